// SPDX-License-Identifier: MIT
// `pnsyncctl failures`: asks for the failed files a page at a time (docs/control-protocol.md)
// and prints each page as it arrives, so a list of any length reaches the terminal or a script
// without one answer having to hold it all. With --json the pages still make one JSON array.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>

#include "ctl/client.hpp"
#include "ctl/exit_status.hpp"
#include "ctl/output.hpp"

namespace pnsync::ctl {

// Every failure, or the first `limit` of them (--limit). `request` is the failures request the
// command line made (its mirror); the pages' limits and cursors are set here.
ExitStatus print_failures(ControlClient& client, protocol::Request request,
                          std::optional<std::int64_t> limit, const OutputOptions& options,
                          std::FILE* out, std::FILE* err);

}  // namespace pnsync::ctl
