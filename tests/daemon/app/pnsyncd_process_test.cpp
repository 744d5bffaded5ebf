// SPDX-License-Identifier: MIT
// pnsyncd as a user runs it: a real process, a YAML config, signals and kill -9.
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
#include "tests/daemon/app/process_helpers.hpp"
#include "tests/daemon/control_fixture.hpp"
#include "tests/daemon/daemon_process.hpp"
#include "tests/daemon/mirror_fixture.hpp"
#include "tests/support/child_process.hpp"

using namespace pnsync;
using namespace pnsync::test;

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
  CHECK_FALSE(store.integrity_problem(store::Store::Check::Full));
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
  INFO(read_file(log));
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

TEST_CASE("$PNSYNC_PASSWORD is gone from a running pnsyncd's environment, /proc included",
          "[process][daemon][secrets]") {
  MirrorFixture fixture;
  const auto config = write_config(fixture, false);
  const auto log = fixture.sandbox / "pnsyncd.log";
  Pnsyncd daemon(config, log, Pnsyncd::Mode::Daemon, {std::string("PNSYNC_PASSWORD=") + kPassword});
  // The pass completes: the password was read and used before it left the environment.
  REQUIRE(wait_for([&] { return read_file(log).find("pass complete") != std::string::npos; },
                   std::chrono::seconds(20)));
  CHECK_MIRRORED(fixture);
  if (::geteuid() != 0) {
    // Not dumpable (main.cpp): only root may read another process's environ.
    WARN("not root: /proc/PID/environ of pnsyncd is unreadable, which is the point");
  } else {
    // /proc/PID/environ is the block the process was started with: unsetenv() alone would leave
    // "PNSYNC_PASSWORD=..." there; pnsyncd overwrites it in place.
    const std::string environ_block =
        read_file("/proc/" + std::to_string(daemon.pid()) + "/environ");
    CHECK(environ_block.find("PATH=") != std::string::npos);  // the file was really read
    CHECK(environ_block.find(kPassword) == std::string::npos);
    CHECK(environ_block.find("PNSYNC_PASSWORD") == std::string::npos);
  }
  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
}

TEST_CASE("settings that open the data to others are warned about loudly at start",
          "[process][secrets]") {
  MirrorFixture fixture;
  const auto config = write_config(fixture);
  write_file(config,
             read_file(config) + "file_mode: 0644\ndir_mode: 2755\nmetrics_listen: 0.0.0.0:9464\n");
  const auto log = fixture.sandbox / "pnsyncd.log";
  Pnsyncd once(config, log);
  CHECK(once.wait() == 0);  // a warning, not a refusal
  const std::string text = read_file(log);
  INFO(text);
  const std::string in = " in " + config.string() + " ";
  for (const std::string& line :
       {"warning: DATA EXPOSED: file_mode 0644" + in + "gives others read (o+r)",
        "warning: DATA EXPOSED: dir_mode 2755" + in + "gives others read and execute (o+rx)",
        "warning: DATA EXPOSED: metrics_listen 0.0.0.0:9464" + in + "is not a loopback address"})
    CHECK(text.find(line) != std::string::npos);
  CHECK(text.find("the PhysioNet data use agreement forbids sharing the data with anyone who has "
                  "not signed it") != std::string::npos);
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
