// SPDX-License-Identifier: MIT
// pnsyncctl's command line, parsed without side effects, and the choice of socket.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/values.hpp"

namespace pnsync::ctl {

inline constexpr std::string_view kDefaultSocket = "/run/pnsync/pnsyncd.sock";

struct Invocation {
  bool json = false;
  bool help = false;
  bool version = false;
  std::optional<std::filesystem::path> socket;  // --socket
  std::optional<std::filesystem::path> config;  // --config
  std::optional<std::int64_t> limit;            // --limit N: failures shows the first N only
  std::string command;                          // empty with --help or --version
  std::vector<std::string> args;                // the command's own arguments
};

// Global options may come before or after the command; "--" ends them.
config::detail::Parsed<Invocation> parse_command_line(std::span<const std::string_view> args);

struct SocketChoice {
  std::filesystem::path path;
  std::string origin;  // "--socket", "socket: in /etc/pnsync/pnsync.yaml", "the default"
};
// --socket, else `socket:` of --config FILE, else kDefaultSocket. Reading the configuration
// throws config::ConfigError (naming the file) when it is unreadable or invalid.
SocketChoice choose_socket(const Invocation& invocation);

}  // namespace pnsync::ctl
