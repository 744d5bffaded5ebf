// SPDX-License-Identifier: MIT
// What the tests of pnsyncd as a process share: its config file, what a partial file and the
// server's log say about a resume, and pnsyncctl run against it.
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>

#include <sys/socket.h>
#include <sys/un.h>

#include <boost/asio/ip/tcp.hpp>
#include <cstring>
#include <nlohmann/json.hpp>

#include "daemon/disk/local_tree.hpp"
#include "store/sqlite.hpp"
#include "tests/daemon/control_fixture.hpp"
#include "tests/daemon/daemon_process.hpp"
#include "tests/daemon/mirror_fixture.hpp"
#include "tests/support/child_process.hpp"

namespace pnsync::test {

inline const std::string kBigImage =
    "files/p11/p11000011/s51234567/2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.dcm";

// With `password_file` false the configuration names no password source, so pnsyncd falls back
// to $PNSYNC_PASSWORD.
inline std::filesystem::path write_config(const MirrorFixture& fixture, bool password_file = true) {
  const auto password_path = fixture.sandbox / "password";
  write_file(password_path, std::string(kPassword) + "\n");
  ::chmod(password_path.c_str(), 0600);
  auto config_file = fixture.sandbox / "pnsync.yaml";
  write_file(config_file,
             "server: " + fixture.config.server + "\n" + "state_dir: " +
                 fixture.config.state_dir.string() + "\n" + "credentials:\n  username: " + kUser +
                 "\n" + (password_file ? "  password_file: " + password_path.string() + "\n" : "") +
                 "transfers: 4\nstall_timeout: 5s\nretry_base: 100ms\nretry_max: 1s\n" +
                 "socket: " + (fixture.sandbox / "pnsyncd.sock").string() + "\n" +
                 "mirrors:\n  - project: mimic-cxr\n    version: 2.0.0\n    dest: " +
                 fixture.dest.string() + "\n");
  return config_file;
}

// The size of the partial file of `rel` (0 when there is none). Not "the largest partial": the
// 300 kB image passes 256 kB in its own partial file on the way, which raced the SIGTERM test.
inline std::int64_t partial_size(const std::filesystem::path& dest, const std::string& rel) {
  std::error_code ec;
  // LocalTree::open would create both folders: ask it only once the daemon has.
  if (!std::filesystem::is_directory(dest / ".pnsync-partial", ec)) return 0;
  auto tree = LocalTree::open(dest);
  if (!tree) return 0;
  const auto size =
      std::filesystem::file_size(dest / ".pnsync-partial" / tree->partial_name(rel), ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

inline std::int64_t resumed_from(const HttpServer& server, const std::string& target) {
  std::int64_t offset = -1;
  for (const auto& request : server.requests())
    if (request.target == target && request.range.rfind("bytes=", 0) == 0)
      offset = std::stoll(request.range.substr(6));
  return offset;
}

// Runs pnsyncctl against the fixture's daemon; `prefix` runs first (setpriv to drop privileges).
inline ProcessRun pnsyncctl(const MirrorFixture& fixture, std::vector<std::string> args,
                            std::vector<std::string> prefix = {}) {
  std::vector<std::string> command = std::move(prefix);
  command.emplace_back(PNSYNCCTL_PATH);
  command.emplace_back("--socket");
  command.emplace_back((fixture.sandbox / "pnsyncd.sock").string());
  command.insert(command.end(), args.begin(), args.end());
  return run_process(fixture.sandbox, std::move(command));
}

inline nlohmann::json mirror_status(const MirrorFixture& fixture) {
  const ProcessRun run = pnsyncctl(fixture, {"status", "--json"});
  INFO(run.err);
  REQUIRE(run.status == 0);
  const auto status = nlohmann::json::parse(run.out);
  REQUIRE(status.at("mirrors").size() == 1);
  return status.at("mirrors").at(0);
}

// One status request on a connection of our own, bypassing pnsyncctl so that only the daemon's
// answer is timed: the seconds until the whole answer line arrived, and the line.
inline std::pair<double, std::string> timed_status(const std::filesystem::path& socket_path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  const std::string request = "{\"id\":1,\"method\":\"status\"}\n";
  const auto sent = std::chrono::steady_clock::now();
  REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string line;
  char buffer[65536];
  while (line.find('\n') == std::string::npos) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    line.append(buffer, static_cast<std::size_t>(n));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  ::close(fd);
  return {seconds, line};
}

}  // namespace pnsync::test
