// SPDX-License-Identifier: MIT
#include "ctl/options.hpp"

#include <limits>

#include "config/config.hpp"

namespace pnsync::ctl {

using config::detail::Parsed;

Parsed<Invocation> parse_command_line(std::span<const std::string_view> args) {
  Invocation invocation;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      if (invocation.command.empty())
        invocation.command = arg;
      else
        invocation.args.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
    } else if (arg == "-h" || arg == "--help") {
      invocation.help = true;
    } else if (arg == "--version") {
      invocation.version = true;
    } else if (arg == "--json") {
      invocation.json = true;
    } else if (arg == "--socket" || arg == "--config" || arg.starts_with("--socket=") ||
               arg.starts_with("--config=")) {
      const std::size_t equals = arg.find('=');
      const std::string_view name = arg.substr(0, equals);
      std::string_view value;
      if (equals != std::string_view::npos)
        value = arg.substr(equals + 1);
      else if (i + 1 < args.size())
        value = args[++i];
      else
        return Parsed<Invocation>::fail(std::string(name) + " needs a path");
      if (value.empty()) return Parsed<Invocation>::fail(std::string(name) + " needs a path");
      (name == "--socket" ? invocation.socket : invocation.config) = std::filesystem::path(value);
    } else if (arg == "--limit" || arg.starts_with("--limit=")) {
      std::string_view value;
      if (arg.size() > 7)
        value = arg.substr(8);
      else if (i + 1 < args.size())
        value = args[++i];
      else
        return Parsed<Invocation>::fail("--limit needs a number");
      const Parsed<std::int64_t> count =
          config::detail::parse_int(value, 1, std::numeric_limits<std::int32_t>::max());
      if (!count.value) return Parsed<Invocation>::fail("--limit N: N " + count.error);
      invocation.limit = *count.value;
    } else {
      return Parsed<Invocation>::fail("unknown option " + std::string(arg));
    }
  }
  if (invocation.command.empty() && !invocation.help && !invocation.version)
    return Parsed<Invocation>::fail("no command given");
  return Parsed<Invocation>{std::move(invocation), {}};
}

SocketChoice choose_socket(const Invocation& invocation) {
  if (invocation.socket) return {*invocation.socket, "--socket"};
  if (invocation.config) {
    const config::Config loaded = config::load_config(*invocation.config);
    return {loaded.socket, "socket: in " + invocation.config->string()};
  }
  return {std::filesystem::path(kDefaultSocket),
          "the default (--socket or --config choose another)"};
}

}  // namespace pnsync::ctl
