// SPDX-License-Identifier: MIT
// What pnsyncctl prints, as pure functions of the protocol's structs: no I/O and no clock, so
// each is tested against golden text (tests/ctl/golden/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/text.hpp"
#include "protocol/messages.hpp"

namespace pnsync::ctl {

struct RenderOptions {
  std::size_t width = 80;     // terminal columns; long paths are cut to fit
  bool tty = false;           // ANSI colours and block-character bars
  std::int64_t now_unix = 0;  // for "last sync 3h ago" and the daemon's uptime
};

std::string render_status(const protocol::DaemonStatus& status, const RenderOptions& options);
std::string render_failures(const std::vector<protocol::FailedFile>& failures,
                            const RenderOptions& options);
// The same in pieces, for failures that arrive a page at a time: each page's rows (the column
// names above the first), then one closing line for them all (`more`: --limit left some out).
std::string render_failure_rows(const std::vector<protocol::FailedFile>& failures,
                                const RenderOptions& options, bool header);
std::string render_failures_end(std::int64_t shown, bool more);
std::string render_plans(const std::vector<protocol::Plan>& plans, const RenderOptions& options);

// Pieces, exposed for their own tests.
std::string progress_bar(std::int64_t done, std::int64_t total, std::size_t cells, bool tty);
using pnsync::group_digits;  // common/text.hpp

}  // namespace pnsync::ctl
