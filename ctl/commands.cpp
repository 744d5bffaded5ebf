// SPDX-License-Identifier: MIT
#include "ctl/commands.hpp"

#include <array>

#include "ctl/doctor.hpp"

namespace pnsync::ctl {
namespace {

using config::detail::parse_int;
using config::detail::parse_rate;
using protocol::Method;

ParsedRequest request(Method method, std::string mirror = {}, std::int64_t value = 0) {
  protocol::Request made;
  made.method = method;
  made.mirror = std::move(mirror);
  made.value = value;
  return ParsedRequest{made, {}};
}

ParsedRequest too_many(std::string_view name, std::string_view synopsis) {
  return ParsedRequest::fail(std::string(name) + ": too many arguments; usage: pnsyncctl " +
                             std::string(synopsis));
}

// status, watch, pause, resume, sync, failures, retry, verify: [MIRROR].
template <Method kMethod>
ParsedRequest optional_mirror(std::string_view name, std::span<const std::string> args) {
  if (args.size() > 1) return too_many(name, std::string(name) + " [MIRROR]");
  return request(kMethod, args.empty() ? std::string() : args[0]);
}

ParsedRequest plan(std::string_view, std::span<const std::string> args) {
  if (args.size() != 1)
    return ParsedRequest::fail(
        "plan: needs exactly one MIRROR (project/version); usage: "
        "pnsyncctl plan MIRROR");
  return request(Method::Plan, args[0]);
}

ParsedRequest refetch(std::string_view, std::span<const std::string> args) {
  if (args.size() != 1)
    return ParsedRequest::fail(
        "refetch: needs exactly one MIRROR (project/version); usage: pnsyncctl refetch MIRROR");
  return request(Method::Refetch, args[0]);
}

ParsedRequest limit(std::string_view, std::span<const std::string> args) {
  if (args.empty() || args.size() > 2)
    return ParsedRequest::fail("limit: usage: pnsyncctl limit RATE [MIRROR], RATE like 50M or 0");
  const config::detail::Parsed<std::int64_t> rate = parse_rate(args[0]);
  if (!rate.value) return ParsedRequest::fail("limit: RATE " + rate.error);
  return request(Method::Limit, args.size() == 2 ? args[1] : std::string(), *rate.value);
}

ParsedRequest transfers(std::string_view, std::span<const std::string> args) {
  if (args.size() != 1)
    return ParsedRequest::fail("transfers: usage: pnsyncctl transfers N|auto (N 1..256)");
  if (args[0] == "auto") return request(Method::Transfers, {}, 0);
  const config::detail::Parsed<std::int64_t> count = parse_int(args[0], 1, 256);
  if (!count.value) return ParsedRequest::fail("transfers: N " + count.error + " (or \"auto\")");
  return request(Method::Transfers, {}, *count.value);
}

constexpr std::array kCommands = {
    CommandSpec{"status", "status [MIRROR]", "progress of every mirror (or one), once",
                optional_mirror<Method::Status>},
    CommandSpec{"watch", "watch [MIRROR]", "the same, redrawn every second until Ctrl-C",
                optional_mirror<Method::Status>, true},
    CommandSpec{"pause", "pause [MIRROR]", "stop starting transfers; those in flight are kept",
                optional_mirror<Method::Pause>},
    CommandSpec{"resume", "resume [MIRROR]", "undo pause", optional_mirror<Method::Resume>},
    CommandSpec{"sync", "sync [MIRROR]", "start a pass now rather than when it is due",
                optional_mirror<Method::Sync>},
    CommandSpec{"failures", "failures [MIRROR] [--limit N]",
                "files that failed, with their last error (all, or the first N)",
                optional_mirror<Method::Failures>, false, nullptr, true},
    CommandSpec{"retry", "retry [MIRROR]", "try the failed files again now",
                optional_mirror<Method::Retry>},
    CommandSpec{"verify", "verify [MIRROR]", "re-hash verified files on disk against the record",
                optional_mirror<Method::Verify>},
    CommandSpec{"limit", "limit RATE [MIRROR]",
                "cap the bandwidth (50M, 512K; 0 = none), of all mirrors or one", limit},
    CommandSpec{"transfers", "transfers N|auto", "pin the files in flight to N, or adapt (auto)",
                transfers},
    CommandSpec{"plan", "plan MIRROR", "what a pass would fetch, keep and skip", plan},
    CommandSpec{"refetch", "refetch MIRROR",
                "fetch everything again into a dest emptied on purpose (not merely unmounted)",
                refetch},
    CommandSpec{"doctor", "doctor",
                "check config, password, server, login, access and disks (pnsyncd --doctor)",
                nullptr, false, run_doctor},
};

}  // namespace

std::span<const CommandSpec> commands() {
  return kCommands;
}

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& command : kCommands)
    if (command.name == name) return &command;
  return nullptr;
}

}  // namespace pnsync::ctl
