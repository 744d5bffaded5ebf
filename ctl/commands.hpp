// SPDX-License-Identifier: MIT
// pnsyncctl's commands as one table: name, synopsis and help next to the function that turns
// the command's arguments into a request. Arguments are checked before any connection is made,
// so a usage error is exit status 2 whether or not pnsyncd runs.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "config/values.hpp"
#include "ctl/options.hpp"
#include "protocol/messages.hpp"

namespace pnsync::ctl {

using ParsedRequest = config::detail::Parsed<protocol::Request>;

struct CommandSpec {
  std::string_view name;
  std::string_view synopsis;  // "limit RATE [MIRROR]"
  std::string_view help;      // one line for --help
  ParsedRequest (*parse)(std::string_view name, std::span<const std::string> args);
  bool redraws = false;  // watch: asks again every second until interrupted
  // Set for a command that does its work here instead of sending a request (doctor); `parse`
  // is then null. Returns the exit status.
  int (*run_here)(const Invocation& invocation) = nullptr;
  // failures: the answer comes a page at a time (ctl/failures.hpp); takes --limit N.
  bool pages = false;
};

std::span<const CommandSpec> commands();
const CommandSpec* find_command(std::string_view name);

}  // namespace pnsync::ctl
