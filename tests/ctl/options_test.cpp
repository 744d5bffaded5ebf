// SPDX-License-Identifier: MIT
// pnsyncctl's command line and each command's arguments, checked before any connection.
#include "ctl/options.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "ctl/commands.hpp"
#include "ctl/doctor.hpp"
#include "tests/support/sandbox.hpp"

using namespace pnsync::ctl;
using pnsync::protocol::Method;

namespace {

pnsync::config::detail::Parsed<Invocation> parse(std::vector<std::string_view> args) {
  return parse_command_line(args);
}

ParsedRequest command(const std::string& name, std::vector<std::string> args) {
  const CommandSpec* spec = find_command(name);
  REQUIRE(spec != nullptr);
  return spec->parse(spec->name, args);
}

}  // namespace

TEST_CASE("global options go before or after the command", "[options]") {
  const auto parsed = parse({"--json", "status", "mimic-cxr/2.0.0", "--socket=/tmp/s.sock"});
  REQUIRE(parsed.value);
  CHECK(parsed.value->json);
  CHECK(parsed.value->command == "status");
  CHECK(parsed.value->args == std::vector<std::string>{"mimic-cxr/2.0.0"});
  CHECK(parsed.value->socket == std::filesystem::path("/tmp/s.sock"));

  const auto separate = parse({"--config", "/etc/pnsync/pnsync.yaml", "plan", "--", "-odd"});
  REQUIRE(separate.value);
  CHECK(separate.value->config == std::filesystem::path("/etc/pnsync/pnsync.yaml"));
  CHECK(separate.value->args == std::vector<std::string>{"-odd"});
}

TEST_CASE("failures takes --limit N, before or after the command", "[options]") {
  const auto parsed = parse({"--limit", "25", "failures", "mimic-cxr/2.0.0"});
  REQUIRE(parsed.value);
  CHECK(parsed.value->limit == 25);
  CHECK(parsed.value->args == std::vector<std::string>{"mimic-cxr/2.0.0"});
  CHECK(parse({"failures", "--limit=7"}).value->limit == 7);
  CHECK_FALSE(parse({"failures"}).value->limit);
  CHECK(find_command("failures")->pages);
  CHECK_FALSE(find_command("status")->pages);
}

TEST_CASE("command line errors say what is wrong", "[options]") {
  auto [args, message] = GENERATE(table<std::vector<std::string_view>, std::string>({
      {std::vector<std::string_view>{}, "no command given"},
      {std::vector<std::string_view>{"--json"}, "no command given"},
      {{"status", "--socket"}, "--socket needs a path"},
      {{"--config=", "status"}, "--config needs a path"},
      {{"--frobnicate", "status"}, "unknown option --frobnicate"},
      {{"failures", "--limit"}, "--limit needs a number"},
      {{"failures", "--limit=0"}, "--limit N: N must be 1..2147483647, got \"0\""},
      {{"failures", "--limit", "ten"}, "--limit N: N must be 1..2147483647, got \"ten\""},
  }));
  const auto parsed = parse(args);
  CHECK_FALSE(parsed.value);
  CHECK(parsed.error == message);
}

TEST_CASE("each command turns its arguments into a request", "[options]") {
  const ParsedRequest limit = command("limit", {"50M", "mimic-cxr/2.0.0"});
  REQUIRE(limit.value);
  CHECK(limit.value->method == Method::Limit);
  CHECK(limit.value->value == 50 * 1024 * 1024);
  CHECK(limit.value->mirror == "mimic-cxr/2.0.0");
  CHECK(command("limit", {"0"}).value->value == 0);
  CHECK(command("transfers", {"auto"}).value->value == 0);
  CHECK(command("transfers", {"12"}).value->value == 12);
  CHECK(command("pause", {}).value->mirror.empty());
  CHECK(command("watch", {"m/1"}).value->method == Method::Status);
  CHECK(command("plan", {"m/1"}).value->method == Method::Plan);
  CHECK(command("refetch", {"m/1"}).value->method == Method::Refetch);
  CHECK(command("refetch", {"m/1"}).value->mirror == "m/1");
  CHECK_FALSE(command("refetch", {}).value);  // a whole mirror is fetched again only by name
}

TEST_CASE("bad command arguments are usage errors", "[options]") {
  auto [name, args, message] = GENERATE(table<std::string, std::vector<std::string>, std::string>({
      {"limit", std::vector<std::string>{}, "usage: pnsyncctl limit RATE"},
      {"limit", {"fast"}, "limit: RATE"},
      {"transfers", {"0"}, "must be 1..256"},
      {"transfers", {"many"}, "transfers: N"},
      {"transfers", std::vector<std::string>{}, "usage: pnsyncctl transfers N|auto"},
      {"plan", std::vector<std::string>{}, "plan: needs exactly one MIRROR"},
      {"pause", {"a/1", "b/2"}, "pause: too many arguments"},
  }));
  const ParsedRequest parsed = command(name, args);
  CHECK_FALSE(parsed.value);
  CHECK_THAT(parsed.error, Catch::Contains(message));
}

TEST_CASE("the socket comes from --socket, then --config, then the default", "[options]") {
  pnsync::test::Sandbox sandbox;
  const auto config = sandbox / "pnsync.yaml";
  pnsync::test::write_file(config,
                           "socket: /run/elsewhere/ctl.sock\nmirrors:\n"
                           "  - project: p\n    version: '1'\n    dest: /data/p\n");
  Invocation invocation;
  CHECK(choose_socket(invocation).path == kDefaultSocket);
  invocation.config = config;
  const SocketChoice from_config = choose_socket(invocation);
  CHECK(from_config.path == "/run/elsewhere/ctl.sock");
  CHECK_THAT(from_config.origin, Catch::Contains(config.string()));
  invocation.socket = "/tmp/given.sock";
  CHECK(choose_socket(invocation).path == "/tmp/given.sock");
}

TEST_CASE("doctor looks for pnsyncd beside pnsyncctl, in the build tree, on $PATH, in /usr/sbin",
          "[options]") {
  using Paths = std::vector<std::filesystem::path>;
  CHECK(pnsyncd_candidates("/usr/bin", "/usr/local/bin::/bin") ==
        Paths{"/usr/sbin/pnsyncd", "/usr/daemon/pnsyncd", "/usr/bin/pnsyncd",
              "/usr/local/bin/pnsyncd", "./pnsyncd", "/bin/pnsyncd", "/usr/sbin/pnsyncd"});
  CHECK(pnsyncd_candidates("/work/build/ctl", "") ==
        Paths{"/work/build/sbin/pnsyncd", "/work/build/daemon/pnsyncd", "/work/build/ctl/pnsyncd",
              "/usr/sbin/pnsyncd"});
  CHECK(pnsyncd_candidates("", "/opt/bin") == Paths{"/opt/bin/pnsyncd", "/usr/sbin/pnsyncd"});
}

TEST_CASE("doctor takes the first candidate that is an executable file", "[options]") {
  pnsync::test::Sandbox sandbox;
  const auto plain = sandbox / "plain" / "pnsyncd";
  const auto runnable = sandbox / "bin" / "pnsyncd";
  pnsync::test::write_file(plain, "#!/bin/sh\n");
  pnsync::test::write_file(runnable, "#!/bin/sh\n");
  std::filesystem::permissions(runnable, std::filesystem::perms::owner_all);
  std::filesystem::create_directories(sandbox / "dir" / "pnsyncd");
  const auto found = find_executable(
      {sandbox / "missing" / "pnsyncd", sandbox / "dir" / "pnsyncd", plain, runnable});
  REQUIRE(found);
  CHECK(*found == runnable);
  CHECK_FALSE(find_executable({sandbox / "missing" / "pnsyncd"}));
}

TEST_CASE("doctor takes no arguments of its own", "[options]") {
  const CommandSpec* doctor = find_command("doctor");
  REQUIRE(doctor != nullptr);
  CHECK(doctor->run_here != nullptr);
  Invocation invocation;
  invocation.command = "doctor";
  invocation.args = {"mimic-cxr/2.0.0"};
  CHECK(doctor->run_here(invocation) == 2);
}
