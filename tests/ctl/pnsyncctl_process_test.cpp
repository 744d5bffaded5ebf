// SPDX-License-Identifier: MIT
// pnsyncctl as a script runs it: a real process, its exit status and what it prints, against no
// daemon, a stale socket, and a live ControlServer in this process. Unprivileged runs go through
// setpriv(1) as uid nobody, so these cases expect to run as root.
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>  // environ (_GNU_SOURCE)

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/daemon/control_fixture.hpp"
#include "tests/protocol/samples.hpp"
#include "tests/support/child_process.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

// Starts pnsyncctl without waiting for it; output goes to `out_file`.
pid_t spawn_ctl(const std::filesystem::path& out_file, std::vector<std::string> args) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  args.insert(args.begin(), PNSYNCCTL_PATH);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(spawned == 0);
  return pid;
}

// `prefix` runs before pnsyncctl, e.g. setpriv and its options.
ProcessRun run_ctl(const Sandbox& sandbox, std::vector<std::string> args,
                   std::vector<std::string> prefix = {}) {
  std::vector<std::string> command = std::move(prefix);
  command.emplace_back(PNSYNCCTL_PATH);
  command.insert(command.end(), args.begin(), args.end());
  return run_process(sandbox, std::move(command));
}

const std::vector<std::string> kAsNobody = {"setpriv", "--reuid=nobody", "--regid=nogroup",
                                            "--clear-groups"};
// Nobody, but in group root, so the 0660 root:root socket lets it connect.
const std::vector<std::string> kAsNobodyInRootGroup = {"setpriv", "--reuid=nobody",
                                                       "--regid=nogroup", "--groups=0"};

}  // namespace

TEST_CASE("pnsyncctl exits 6 naming the socket and why it is unreachable", "[pnsyncctl]") {
  Sandbox sandbox;
  const auto socket = sandbox / "pnsyncd.sock";

  SECTION("no socket") {
    const ProcessRun run = run_ctl(sandbox, {"--socket", socket.string(), "status"});
    CHECK(run.status == 6);
    CHECK_THAT(run.err, Catch::Contains(socket.string()) && Catch::Contains("no such socket") &&
                            Catch::Contains("--socket"));
  }
  SECTION("a socket nobody listens on") {
    {
      const UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
      REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    }
    const ProcessRun run = run_ctl(sandbox, {"status", "--socket=" + socket.string()});
    CHECK(run.status == 6);
    CHECK_THAT(run.err, Catch::Contains(socket.string()) && Catch::Contains("connection refused"));
  }
  SECTION("the socket named by --config") {
    const auto config = sandbox / "pnsync.yaml";
    write_file(config, "socket: " + socket.string() +
                           "\nmirrors:\n  - project: p\n    version: '1'\n    dest: /data/p\n");
    const ProcessRun run = run_ctl(sandbox, {"--config", config.string(), "status"});
    CHECK(run.status == 6);
    CHECK_THAT(run.err, Catch::Contains(socket.string()) && Catch::Contains(config.string()));
  }
}

TEST_CASE("pnsyncctl exits 2 on usage errors, before trying the socket", "[pnsyncctl]") {
  Sandbox sandbox;
  auto args = GENERATE(
      as<std::vector<std::string>>{}, std::vector<std::string>{},
      std::vector<std::string>{"frobnicate"}, std::vector<std::string>{"--bogus", "status"},
      std::vector<std::string>{"limit"}, std::vector<std::string>{"limit", "fast"},
      std::vector<std::string>{"transfers", "999"}, std::vector<std::string>{"plan"},
      std::vector<std::string>{"--config", "/nonexistent/pnsync.yaml", "status"});
  const ProcessRun run = run_ctl(sandbox, args);
  CHECK(run.status == 2);
  CHECK_THAT(run.err, Catch::StartsWith("pnsyncctl: ") && Catch::Contains("--help"));
  CHECK(run.out.empty());
}

TEST_CASE("pnsyncctl --help lists every command, option and exit status", "[pnsyncctl]") {
  Sandbox sandbox;
  const ProcessRun run = run_ctl(sandbox, {"--help"});
  CHECK(run.status == 0);
  for (const char* word : {"status", "watch", "pause", "resume", "sync", "failures", "retry",
                           "verify", "limit RATE", "transfers N|auto", "plan MIRROR", "doctor",
                           "--json", "--socket", "--config", "--version", "  6  ", "127"})
    CHECK_THAT(run.out, Catch::Contains(word));
}

TEST_CASE("pnsyncctl against a live server", "[pnsyncctl]") {
  ControlFixture fixture;
  fixture.target.set_status(sample_status());
  REQUIRE(::chmod(fixture.sandbox.path().c_str(), 0711) == 0);  // let uid nobody reach the socket
  fixture.start();
  const std::string socket = "--socket=" + fixture.socket.string();
  Sandbox outputs;  // not the fixture's: nobody must not need to write there

  SECTION("status as text and as JSON") {
    const ProcessRun text = run_ctl(outputs, {socket, "status"});
    CHECK(text.status == 0);
    CHECK_THAT(text.out, Catch::Contains("mimic-cxr/2.0.0") && Catch::Contains("1,200 / 377,110"));
    const ProcessRun json = run_ctl(outputs, {socket, "--json", "status", "mimic-iv/2.2"});
    CHECK(json.status == 0);
    CHECK_THAT(json.out, Catch::Contains("\"name\": \"mimic-iv/2.2\"") &&
                             Catch::Contains("\"files_total\": 3000") &&
                             !Catch::Contains("mimic-cxr"));
  }
  SECTION("a changing command as root") {
    const ProcessRun run = run_ctl(outputs, {socket, "limit", "50M", "mimic-cxr/2.0.0"});
    CHECK(run.status == 0);
    CHECK(run.out == "limit done\n");
    CHECK(fixture.target.calls().back() == protocol::Method::Limit);
  }
  SECTION("a daemon error is exit status 1, as text or JSON") {
    const ProcessRun run = run_ctl(outputs, {socket, "sync", "no/such"});
    CHECK(run.status == 1);
    CHECK(run.err == "pnsyncctl: unknown mirror no/such\n");
    const ProcessRun json = run_ctl(outputs, {socket, "--json", "sync", "no/such"});
    CHECK(json.status == 1);
    CHECK_THAT(json.out, Catch::Contains("\"error\": \"unknown_mirror\""));
  }
  SECTION("an unprivileged user may read but not change") {
    if (::geteuid() != 0) {
      WARN("needs root to run pnsyncctl as nobody");
      return;
    }
    const ProcessRun status = run_ctl(outputs, {socket, "status"}, kAsNobodyInRootGroup);
    CHECK(status.status == 0);
    const ProcessRun pause = run_ctl(outputs, {socket, "pause"}, kAsNobodyInRootGroup);
    CHECK(pause.status == 1);
    CHECK_THAT(pause.err, Catch::Contains("pause changes what pnsyncd does: only root"));
    CHECK(fixture.target.calls() == std::vector<protocol::Method>{protocol::Method::Status});
  }
  SECTION("a user outside the socket's group gets permission denied") {
    if (::geteuid() != 0) {
      WARN("needs root to run pnsyncctl as nobody");
      return;
    }
    const ProcessRun run = run_ctl(outputs, {socket, "status"}, kAsNobody);
    CHECK(run.status == 6);
    CHECK_THAT(run.err,
               Catch::Contains(fixture.socket.string()) && Catch::Contains("permission denied"));
  }
}

TEST_CASE("pnsyncctl watch redraws every second and exits 0 on SIGINT", "[pnsyncctl]") {
  ControlFixture fixture;
  fixture.target.set_status(sample_status());
  fixture.start();
  const auto out_file = fixture.sandbox / "watch.out";
  const pid_t pid =
      spawn_ctl(out_file, {"--socket", fixture.socket.string(), "--json", "watch", "mimic-iv/2.2"});
  // Two frames: the first at once, the next a second later.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fixture.target.calls().size() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(::kill(pid, SIGINT) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // JSON lines: one status object per frame, narrowed to the mirror asked for.
  const std::string out = read_file(out_file);
  CHECK(std::count(out.begin(), out.end(), '\n') >= 2);
  CHECK_THAT(out, Catch::StartsWith("{\"version\":\"0.1.0\"") && !Catch::Contains("mimic-cxr"));
}
