// SPDX-License-Identifier: MIT
// `pnsyncctl watch`: asks for the status every second and redraws it in place on a terminal
// (one frame after another elsewhere; one JSON object per line with --json) until SIGINT or
// SIGTERM.
#pragma once

#include "ctl/client.hpp"
#include "ctl/exit_status.hpp"
#include "ctl/output.hpp"

namespace pnsync::ctl {

ExitStatus watch(ControlClient& client, const protocol::Request& request, OutputOptions options);

}  // namespace pnsync::ctl
