// SPDX-License-Identifier: MIT
// pnsyncd as a user runs it: a real process, a YAML config, signals and kill -9.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>

#include "daemon/local_tree.hpp"
#include "tests/daemon/daemon_process.hpp"
#include "tests/daemon/mirror_fixture.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

const std::string kBigImage =
    "files/p11/p11000011/s51234567/2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.dcm";

std::filesystem::path write_config(const MirrorFixture& fixture) {
  const auto password_file = fixture.sandbox / "password";
  write_file(password_file, std::string(kPassword) + "\n");
  ::chmod(password_file.c_str(), 0600);
  auto config_file = fixture.sandbox / "pnsync.yaml";
  write_file(config_file,
             "server: " + fixture.config.server + "\n" + "state_dir: " +
                 fixture.config.state_dir.string() + "\n" + "credentials:\n  username: " + kUser +
                 "\n  password_file: " + password_file.string() + "\n" +
                 "transfers: 4\nstall_timeout: 5s\nretry_base: 100ms\nretry_max: 1s\n" +
                 "mirrors:\n  - project: mimic-cxr\n    version: 2.0.0\n    dest: " +
                 fixture.dest.string() + "\n");
  return config_file;
}

// The size of the partial file of `rel` (0 when there is none). Not "the largest partial": the
// 300 kB image passes 256 kB in its own partial file on the way, which raced the SIGTERM test.
std::int64_t partial_size(const std::filesystem::path& dest, const std::string& rel) {
  std::error_code ec;
  // LocalTree::open would create both folders: ask it only once the daemon has.
  if (!std::filesystem::is_directory(dest / ".pnsync-partial", ec)) return 0;
  auto tree = LocalTree::open(dest);
  if (!tree) return 0;
  const auto size =
      std::filesystem::file_size(dest / ".pnsync-partial" / tree->partial_name(rel), ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

std::int64_t resumed_from(const HttpServer& server, const std::string& target) {
  std::int64_t offset = -1;
  for (const auto& request : server.requests())
    if (request.target == target && request.range.rfind("bytes=", 0) == 0)
      offset = std::stoll(request.range.substr(6));
  return offset;
}

}  // namespace

TEST_CASE("kill -9 mid-transfer, then a restart finishes and fetches only the missing bytes",
          "[process]") {
  MirrorFixture fixture;
  const auto target = fixture.url_path(kBigImage);
  fixture.server->set_fault(target, {Fault::Kind::Slow, 1 << 20, 0, {}, 1});  // 1 MiB/s
  const auto config = write_config(fixture);
  const auto log = fixture.sandbox / "pnsyncd.log";
  {
    Pnsyncd first(config, log);
    REQUIRE(wait_for([&] { return partial_size(fixture.dest, kBigImage) >= (1 << 20); },
                     std::chrono::seconds(20)));
    ::kill(first.pid(), SIGKILL);
    CHECK(first.wait() == -SIGKILL);
  }
  // Never visible under its final name while incomplete.
  CHECK_FALSE(std::filesystem::exists(fixture.dest / kBigImage));
  const auto kept = partial_size(fixture.dest, kBigImage);

  Pnsyncd second(config, log);
  CHECK(second.wait() == 0);
  CHECK_MIRRORED(fixture);
  // The restart asked only for what was missing (the kept bytes, give or take the page cache).
  CHECK(resumed_from(*fixture.server, target) >= kept - (256 << 10));
  CHECK(resumed_from(*fixture.server, target) > 0);
  store::Store store(fixture.config.state_dir / "state.db");
  CHECK(store.integrity_ok());
}

TEST_CASE("SIGTERM stops promptly and keeps partial progress", "[process]") {
  MirrorFixture fixture;
  const auto target = fixture.url_path(kBigImage);
  fixture.server->set_fault(target, {Fault::Kind::Slow, 256 << 10, 0, {}, 1});
  const auto config = write_config(fixture);
  const auto log = fixture.sandbox / "pnsyncd.log";
  Pnsyncd daemon(config, log);
  REQUIRE(wait_for([&] { return partial_size(fixture.dest, kBigImage) >= (256 << 10); },
                   std::chrono::seconds(20)));
  const auto asked = std::chrono::steady_clock::now();
  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 1);
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(3));
  CHECK(partial_size(fixture.dest, kBigImage) >= (256 << 10));
  CHECK_FALSE(std::filesystem::exists(fixture.dest / kBigImage));
}

TEST_CASE("the password appears in no log, database or command line", "[process][secrets]") {
  MirrorFixture fixture;
  const auto config = write_config(fixture);
  const auto log = fixture.sandbox / "pnsyncd.log";
  Pnsyncd daemon(config, log);
  const std::string cmdline = read_file("/proc/" + std::to_string(daemon.pid()) + "/cmdline");
  CHECK(daemon.wait() == 0);
  const std::string base64 = "amRvZTpzM2NyZXQtUGE1NQ==";  // "jdoe:s3cret-Pa55"
  for (const auto& haystack : {cmdline, read_file(log)}) {
    CHECK(haystack.find(kPassword) == std::string::npos);
    CHECK(haystack.find(base64) == std::string::npos);
  }
  for (const auto& entry : std::filesystem::directory_iterator(fixture.config.state_dir)) {
    const std::string content = read_file(entry.path());
    CHECK(content.find(kPassword) == std::string::npos);
  }
}

TEST_CASE("a second pnsyncd on the same state_dir refuses to start", "[process]") {
  MirrorFixture fixture;
  const auto target = fixture.url_path(kBigImage);
  fixture.server->set_fault(target, {Fault::Kind::Slow, 256 << 10, 0, {}, 1});
  const auto config = write_config(fixture);
  Pnsyncd first(config, fixture.sandbox / "first.log");
  REQUIRE(wait_for([&] { return std::filesystem::exists(fixture.config.state_dir / "state.db"); },
                   std::chrono::seconds(10)));
  Pnsyncd second(config, fixture.sandbox / "second.log");
  CHECK(second.wait() == 5);
  CHECK(read_file(fixture.sandbox / "second.log").find("in use by another pnsyncd") !=
        std::string::npos);
}
