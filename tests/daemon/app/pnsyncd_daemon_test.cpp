// SPDX-License-Identifier: MIT
// pnsyncd as a daemon: reloads, pnsyncctl steering it, verify at rest, Retry-After holds, a
// failing state database, systemd notifications, metrics and failures, each a real process.
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

TEST_CASE("daemon mode: syncs, refuses a broken reload, stops on SIGTERM", "[process][daemon]") {
  MirrorFixture fixture;
  const auto config = write_config(fixture);
  const auto log = fixture.sandbox / "pnsyncd.log";
  Pnsyncd daemon(config, log, Pnsyncd::Mode::Daemon);
  REQUIRE(wait_for([&] { return fixture.mirrored_exactly(nullptr); }, std::chrono::seconds(20)));
  // The first pass is complete; the daemon stays up for the next one.
  REQUIRE(wait_for([&] { return read_file(log).find("pass complete") != std::string::npos; },
                   std::chrono::seconds(10)));
  CHECK(::kill(daemon.pid(), 0) == 0);

  const std::string good = read_file(config);
  write_file(config, good + "max_transfers: many\n");
  ::kill(daemon.pid(), SIGHUP);
  REQUIRE(wait_for([&] { return read_file(log).find("reload refused") != std::string::npos; },
                   std::chrono::seconds(10)));
  INFO(read_file(log));
  CHECK(read_file(log).find("pnsync.yaml:15: max_transfers: must be 1..256, got \"many\"") !=
        std::string::npos);
  CHECK(::kill(daemon.pid(), 0) == 0);  // still running, on the old configuration

  write_file(config, good);
  ::kill(daemon.pid(), SIGHUP);
  REQUIRE(wait_for([&] { return read_file(log).find("reloaded") != std::string::npos; },
                   std::chrono::seconds(10)));

  const auto asked = std::chrono::steady_clock::now();
  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(3));
  CHECK_MIRRORED(fixture);
}

TEST_CASE("pnsyncctl watches and steers a running daemon", "[process][daemon][pnsyncctl]") {
  MirrorFixture fixture;
  const auto target = fixture.url_path(kBigImage);
  fixture.server->set_fault(target, {Fault::Kind::Slow, 512 << 10, 0, {}, -1});
  const auto config = write_config(fixture);
  const auto log = fixture.sandbox / "pnsyncd.log";
  Pnsyncd daemon(config, log, Pnsyncd::Mode::Daemon);
  REQUIRE(wait_for([&] { return std::filesystem::exists(fixture.sandbox / "pnsyncd.sock"); },
                   std::chrono::seconds(10)));

  // Status while syncing: the documented fields, and progress that moves.
  REQUIRE(wait_for([&] { return partial_size(fixture.dest, kBigImage) > 0; },
                   std::chrono::seconds(10)));
  const auto first = mirror_status(fixture);
  for (const char* field : {"name", "state", "files_total", "files_verified", "files_failed",
                            "bytes_total", "bytes_done", "rate_bytes_per_s", "eta_s"})
    CHECK(first.contains(field));
  CHECK(first.at("name") == "mimic-cxr/2.0.0");
  CHECK(first.at("state") == "syncing");
  auto big_done = [](const nlohmann::json& mirror) -> std::int64_t {
    for (const auto& transfer : mirror.at("transfers"))
      if (transfer.at("path") == kBigImage) return transfer.at("bytes_done").get<std::int64_t>();
    return -1;
  };
  const std::int64_t before = big_done(first);
  REQUIRE(wait_for([&] { return big_done(mirror_status(fixture)) > before + (128 << 10); },
                   std::chrono::seconds(10)));
  const ProcessRun text = pnsyncctl(fixture, {"status"});
  CHECK(text.status == 0);
  CHECK_THAT(text.out, Catch::Contains("mimic-cxr/2.0.0") && Catch::Contains("syncing"));
  // The connections carrying it: transfers: 4 rides on 4 connections at most, one request each.
  CHECK_THAT(text.out, Catch::Contains("connections: "));
  const ProcessRun json = pnsyncctl(fixture, {"status", "--json"});
  const auto connections = nlohmann::json::parse(json.out).at("connections");
  CHECK(connections.at("max") == 20);
  CHECK(connections.at("limit") == 4);
  CHECK(connections.at("adaptive") == false);
  CHECK(connections.at("streams_per_connection") == 1);
  CHECK(connections.at("open").get<int>() >= 1);
  CHECK(connections.at("open").get<int>() <= 4);
  CHECK(connections.at("requests_in_flight").get<int>() >= 1);

  // Someone without the right to steer may look, not pause.
  // nobody in group root: the socket is 0660 root:root; the sandbox must let it pass through.
  const std::vector<std::string> as_nobody = {"setpriv", "--reuid=nobody", "--regid=nogroup",
                                              "--groups=0"};
  std::filesystem::permissions(
      fixture.sandbox.path(),
      std::filesystem::perms::group_exec | std::filesystem::perms::others_exec,
      std::filesystem::perm_options::add);
  const ProcessRun looked = pnsyncctl(fixture, {"status"}, as_nobody);
  INFO(looked.err);
  CHECK(looked.status == 0);
  const ProcessRun refused = pnsyncctl(fixture, {"pause"}, as_nobody);
  CHECK(refused.status == 1);
  CHECK(mirror_status(fixture).at("state") == "syncing");

  // Pause: no new requests, no new bytes, the partial file stays.
  const ProcessRun paused = pnsyncctl(fixture, {"pause"});
  INFO(paused.err);
  REQUIRE(paused.status == 0);
  CHECK(mirror_status(fixture).at("state") == "paused");
  const auto requests = fixture.server->requests().size();
  const auto kept = partial_size(fixture.dest, kBigImage);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(fixture.server->requests().size() == requests);
  CHECK(partial_size(fixture.dest, kBigImage) == kept);
  CHECK(kept > 0);

  // Resume finishes the mirror, resuming the big file from its partial bytes.
  fixture.server->set_fault(target, {});
  REQUIRE(pnsyncctl(fixture, {"resume"}).status == 0);
  REQUIRE(wait_for([&] { return fixture.mirrored_exactly(nullptr); }, std::chrono::seconds(20)));
  CHECK(resumed_from(*fixture.server, target) >= kept - (512 << 10));
  REQUIRE(wait_for([&] { return mirror_status(fixture).at("state") == "idle"; },
                   std::chrono::seconds(10)));
  const auto done = mirror_status(fixture);
  CHECK(done.at("files_verified") == done.at("files_total"));
  // json's empty() is false for every string: compare the string itself.
  CHECK(done.at("warning").get<std::string>().empty());  // dest was created 2750
  std::filesystem::permissions(
      fixture.dest, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
      std::filesystem::perm_options::add);
  CHECK_THAT(mirror_status(fixture).at("warning").get<std::string>(),
             Catch::Contains("others may read the mirror"));
  CHECK(done.at("next_sync_unix").is_number());

  // Unknown mirrors and methods are errors the user can read.
  const ProcessRun unknown = pnsyncctl(fixture, {"pause", "nosuch/1.0"});
  CHECK(unknown.status == 1);
  CHECK_THAT(unknown.err, Catch::Contains("mimic-cxr/2.0.0"));

  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
  CHECK_FALSE(std::filesystem::exists(fixture.sandbox / "pnsyncd.sock"));
}

TEST_CASE("pnsyncctl verify re-hashes at rest, an emptied dest waits for refetch",
          "[process][daemon][pnsyncctl][dest]") {
  MirrorFixture fixture;
  const auto config = write_config(fixture);
  Pnsyncd daemon(config, fixture.sandbox / "pnsyncd.log", Pnsyncd::Mode::Daemon);
  const auto idle = [&] { return mirror_status(fixture).at("state") == "idle"; };
  REQUIRE(wait_for([&] { return fixture.mirrored_exactly(nullptr) && idle(); },
                   std::chrono::seconds(20)));

  // Same size, other bytes: only hashing the file again can tell.
  const auto license = fixture.dest / "LICENSE.txt";
  std::string altered = read_file(license);
  altered[0] = static_cast<char>(altered[0] ^ 0x20);
  write_file(license, altered);
  REQUIRE_FALSE(fixture.mirrored_exactly(nullptr));
  const ProcessRun verified = pnsyncctl(fixture, {"verify"});
  INFO(verified.err);
  REQUIRE(verified.status == 0);
  CHECK(wait_for([&] { return fixture.mirrored_exactly(nullptr); }, std::chrono::seconds(20)));

  // An emptied dest (what an unmounted mount point looks like): the pass stops, fetching nothing.
  REQUIRE(wait_for(idle, std::chrono::seconds(10)));
  std::filesystem::remove_all(fixture.dest);
  std::filesystem::create_directory(fixture.dest);
  fixture.server->clear_requests();
  REQUIRE(pnsyncctl(fixture, {"sync"}).status == 0);
  REQUIRE(wait_for([&] { return mirror_status(fixture).at("state") == "failed"; },
                   std::chrono::seconds(10)));
  CHECK_THAT(mirror_status(fixture).at("reason").get<std::string>(),
             Catch::Contains("holds 0 of") && Catch::Contains("not mounted?"));
  CHECK(std::filesystem::is_empty(fixture.dest));
  CHECK(fixture.server->requests().empty());

  const ProcessRun unnamed = pnsyncctl(fixture, {"refetch"});
  CHECK(unnamed.status != 0);
  CHECK_THAT(unnamed.err, Catch::Contains("MIRROR"));
  const ProcessRun refetched = pnsyncctl(fixture, {"refetch", "mimic-cxr/2.0.0"});
  INFO(refetched.err);
  REQUIRE(refetched.status == 0);
  CHECK(wait_for([&] { return fixture.mirrored_exactly(nullptr) && idle(); },
                 std::chrono::seconds(20)));

  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
}

TEST_CASE("pnsyncctl resume ends a server's Retry-After hold and the waits behind it at once",
          "[process][daemon][pnsyncctl][retry]") {
  MirrorFixture fixture;
  // One 429 asking for ten minutes: the host is held, and the file waits as long for its retry.
  const auto target = fixture.url_path(
      "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm");
  fixture.server->set_fault(target, {Fault::Kind::Status, 0, 429, std::string("600"), 1});
  const auto config = write_config(fixture);
  Pnsyncd daemon(config, fixture.sandbox / "pnsyncd.log", Pnsyncd::Mode::Daemon);
  const auto held = [&] {
    const ProcessRun run = pnsyncctl(fixture, {"status", "--json"});
    return run.status == 0 && nlohmann::json::parse(run.out).at("held_until_unix").is_number();
  };
  REQUIRE(wait_for(held, std::chrono::seconds(20)));
  // Transfers start while the crawl goes on, so the hold may come before the listing ends; either
  // way the mirror is still at work, not failed.
  const std::string state = mirror_status(fixture).at("state");
  CHECK((state == "listing" || state == "syncing"));

  const ProcessRun resumed = pnsyncctl(fixture, {"resume"});
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK(wait_for([&] { return fixture.mirrored_exactly(nullptr); }, std::chrono::seconds(10)));
  CHECK_FALSE(held());
  CHECK(fixture.server->count_requests(target) == 2);
  CHECK_THAT(read_file(fixture.sandbox / "pnsyncd.log"),
             Catch::Contains("Retry-After hold is released"));

  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
}

TEST_CASE(
    "a state database that fails mid-run stops that pass, while the daemon and its socket go on",
    "[process][daemon][store]") {
  MirrorFixture fixture;
  const auto config = write_config(fixture);
  Pnsyncd daemon(config, fixture.sandbox / "pnsyncd.log", Pnsyncd::Mode::Daemon);
  const auto idle = [&] { return mirror_status(fixture).at("state") == "idle"; };
  REQUIRE(wait_for([&] { return fixture.mirrored_exactly(nullptr) && idle(); },
                   std::chrono::seconds(20)));

  // Someone holds the write lock longer than the daemon's busy_timeout (10 s), as an sqlite3
  // shell left inside a transaction would: the next pass's first write fails.
  const auto db_file = fixture.config.state_dir / "state.db";
  {
    store::sqlite::Database other(db_file);
    other.exec("PRAGMA busy_timeout = 10000");  // the daemon may be committing just now
    other.exec("BEGIN EXCLUSIVE");
    const ProcessRun sync = pnsyncctl(fixture, {"sync"});
    INFO(sync.err);
    CHECK(sync.status == 0);
    other.exec("ROLLBACK");
  }
  REQUIRE(::kill(daemon.pid(), 0) == 0);  // still running
  CHECK(wait_for([&] { return mirror_status(fixture).at("state") == "failed"; },
                 std::chrono::seconds(10)));
  const auto failed = mirror_status(fixture);
  CHECK_THAT(failed.at("reason").get<std::string>(),
             Catch::Contains(db_file.string()) && Catch::Contains("locked") &&
                 Catch::Contains("this mirror's pass stops"));

  // Once the database is free again, the next pass runs as usual.
  fixture.server->clear_requests();
  REQUIRE(pnsyncctl(fixture, {"sync"}).status == 0);
  CHECK(wait_for([&] { return idle(); }, std::chrono::seconds(20)));
  CHECK(fixture.mirrored_exactly(nullptr));
  CHECK_FALSE(fixture.server->requests().empty());  // a real pass: the manifest was asked for

  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
}

TEST_CASE("daemon: SIGTERM mid-transfer, then a restart resumes from the partial bytes",
          "[process][daemon]") {
  MirrorFixture fixture;
  const auto target = fixture.url_path(kBigImage);
  fixture.server->set_fault(target, {Fault::Kind::Slow, 512 << 10, 0, {}, 1});
  const auto config = write_config(fixture);
  const auto log = fixture.sandbox / "pnsyncd.log";
  std::int64_t kept = 0;
  {
    Pnsyncd first(config, log, Pnsyncd::Mode::Daemon);
    REQUIRE(wait_for([&] { return partial_size(fixture.dest, kBigImage) >= (512 << 10); },
                     std::chrono::seconds(20)));
    ::kill(first.pid(), SIGTERM);
    CHECK(first.wait() == 0);
    kept = partial_size(fixture.dest, kBigImage);
    CHECK(kept >= (512 << 10));
  }
  Pnsyncd second(config, log, Pnsyncd::Mode::Daemon);
  REQUIRE(wait_for([&] { return fixture.mirrored_exactly(nullptr); }, std::chrono::seconds(20)));
  CHECK(resumed_from(*fixture.server, target) >= kept - (512 << 10));
  store::Store store(fixture.config.state_dir / "state.db");
  CHECK_FALSE(store.integrity_problem(store::Store::Check::Full));
}

TEST_CASE("daemon: systemd notifications and a Prometheus scrape during a mirror",
          "[process][daemon][service]") {
  MirrorFixture fixture;
  const auto target = fixture.url_path(kBigImage);
  fixture.server->set_fault(target, {Fault::Kind::Slow, 1 << 20, 0, {}, 1});
  // A free port: bind to 0, read it, close.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe.local_endpoint().port();
  probe.close();
  const auto config = write_config(fixture);
  write_file(config,
             read_file(config) + "metrics_listen: \"127.0.0.1:" + std::to_string(port) + "\"\n");
  // systemd's side of the notify socket.
  const auto notify_path = fixture.sandbox / "notify.sock";
  const int notify_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(notify_fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, notify_path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(notify_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  std::string received;
  auto drain = [&] {
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(notify_fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0)
      received.append(buffer, static_cast<std::size_t>(n)).push_back('\n');
    return received;
  };

  const auto log = fixture.sandbox / "pnsyncd.log";
  Pnsyncd daemon(config, log, Pnsyncd::Mode::Daemon, {"NOTIFY_SOCKET=" + notify_path.string()});
  REQUIRE(wait_for([&] { return drain().find("READY=1") != std::string::npos; },
                   std::chrono::seconds(10)));
  REQUIRE(wait_for([&] { return drain().find("STATUS=mimic-cxr/2.0.0: ") != std::string::npos; },
                   std::chrono::seconds(10)));

  REQUIRE(wait_for([&] { return partial_size(fixture.dest, kBigImage) > 0; },
                   std::chrono::seconds(10)));
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
  const auto scrape = fixture.sandbox / "metrics.txt";
  const std::string command = "curl -sf -o " + scrape.string() + " " + url;
  REQUIRE(std::system(command.c_str()) == 0);
  const std::string body = read_file(scrape);
  CHECK_THAT(body, Catch::Contains("# TYPE pnsync_fetched_bytes_total counter"));
  CHECK_THAT(body, Catch::Contains("mirror=\"mimic-cxr/2.0.0\""));
  CHECK_THAT(body, Catch::Contains("pnsync_transfers_active"));
  CHECK_THAT(body, Catch::Contains("pnsync_request_latency_seconds_bucket"));

  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
  CHECK(drain().find("STOPPING=1") != std::string::npos);
  ::close(notify_fd);
}

TEST_CASE("daemon: a multi-GB copy on disk is hashed off the event loop",
          "[process][daemon][hash]") {
  MirrorFixture fixture;
  // A file an earlier mirror left in dest, too large to hash in a blink: the daemon adopts it by
  // size after hashing it whole. Sparse, both sides: the same 3 GiB of zeros.
  const std::string big = "files/p12/p12000000/s52000000/big.dcm";
  constexpr std::int64_t kSize = std::int64_t{3} << 30;
  for (const auto& root : {fixture.source, fixture.dest}) {
    std::filesystem::create_directories((root / big).parent_path());
    write_file(root / big, "");
    REQUIRE(::truncate((root / big).c_str(), kSize) == 0);
  }
  const auto config = write_config(fixture);
  const auto notify_path = fixture.sandbox / "notify.sock";
  const int notify_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(notify_fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, notify_path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(notify_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  // Watchdog pings every 0.25 s (half of WATCHDOG_USEC); a gap of 0.5 s would have it fire.
  std::vector<std::chrono::steady_clock::time_point> pings;
  auto drain = [&] {
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(notify_fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0)
      if (std::string_view(buffer, static_cast<std::size_t>(n)).find("WATCHDOG=1") !=
          std::string_view::npos)
        pings.push_back(std::chrono::steady_clock::now());
  };
  Pnsyncd daemon(config, fixture.sandbox / "pnsyncd.log", Pnsyncd::Mode::Daemon,
                 {"NOTIFY_SOCKET=" + notify_path.string(), "WATCHDOG_USEC=500000"});
  const auto socket_path = fixture.sandbox / "pnsyncd.sock";
  REQUIRE(wait_for([&] { return std::filesystem::exists(socket_path); }, std::chrono::seconds(10)));

  double slowest = 0;
  bool saw_checking = false;
  bool idle = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!idle && std::chrono::steady_clock::now() < deadline) {
    drain();
    const auto [seconds, line] = timed_status(socket_path);
    slowest = std::max(slowest, seconds);
    const auto answer = nlohmann::json::parse(line);
    const auto& mirror = answer.at("status").at("mirrors").at(0);
    for (const auto& transfer : mirror.at("transfers"))
      if (transfer.at("path") == big && transfer.at("checking") == true) saw_checking = true;
    idle = mirror.at("state") == "idle";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  drain();
  REQUIRE(idle);
  CHECK(saw_checking);  // status showed the hash in progress
  CHECK(slowest < 0.1);
  double longest_gap = 0;
  for (std::size_t i = 1; i < pings.size(); ++i)
    longest_gap =
        std::max(longest_gap, std::chrono::duration<double>(pings[i] - pings[i - 1]).count());
  INFO(pings.size() << " watchdog pings");
  CHECK(pings.size() > 4);
  CHECK(longest_gap < 0.5);
  // Adopted, not fetched.
  CHECK(fixture.server->count_requests(fixture.url_path(big)) == 0);
  auto record = fixture.record(big);
  REQUIRE(record);
  CHECK(record->state == store::FileState::Verified);
  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
  ::close(notify_fd);
}

TEST_CASE("pnsyncctl failures gets every failure, more than one answer could carry",
          "[process][daemon][pnsyncctl][failures]") {
  MirrorFixture fixture;
  // 20,000 failed files with long paths and errors: as one answer line about 11 MB, over the
  // 8 MiB a control connection may queue, so before paging the daemon dropped the connection.
  constexpr int kFailed = 20'000;
  const std::string error =
      "HTTP 503 Service Unavailable after 8 attempts: " + std::string(250, 'e');
  std::vector<std::string> expected;
  {
    std::filesystem::create_directories(fixture.config.state_dir);
    store::Store store(fixture.config.state_dir / "state.db");
    const auto mirror = store.ensure_mirror("mimic-cxr/2.0.0", fixture.dest.string());
    std::vector<store::DiscoveredFile> files;
    for (int i = 0; i < kFailed; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "files/p%02d/p%08d/s%08d/", i % 100, i, i * 7);
      files.push_back({std::string(name) + std::string(150, 'a' + i % 26) + ".dcm", 1, {}, {}});
      expected.push_back(files.back().path);
    }
    store.upsert_files(mirror, files);
    for (const auto& file : files)
      store.record_attempt_error(store.find_file(mirror, file.path)->id, error, true);
  }
  std::sort(expected.begin(), expected.end());
  // A wrong password: the pass stops at the manifest (401) and leaves the failures as they are.
  const auto config = write_config(fixture);
  write_file(fixture.sandbox / "password", "not-the-password\n");
  ::chmod((fixture.sandbox / "password").c_str(), 0600);
  Pnsyncd daemon(config, fixture.sandbox / "pnsyncd.log", Pnsyncd::Mode::Daemon);
  const auto socket = fixture.sandbox / "pnsyncd.sock";
  REQUIRE(wait_for([&] { return std::filesystem::exists(socket); }, std::chrono::seconds(10)));
  REQUIRE(wait_for([&] { return mirror_status(fixture).at("state") == "failed"; },
                   std::chrono::seconds(10)));

  // --json: one JSON document, every failure once, in path order.
  const ProcessRun json = pnsyncctl(fixture, {"failures", "--json"});
  INFO(json.err);
  REQUIRE(json.status == 0);
  CHECK(json.out.size() > (8u << 20));
  const auto all = nlohmann::json::parse(json.out);
  REQUIRE(all.is_array());
  std::vector<std::string> listed;
  for (const auto& failed : all) listed.push_back(failed.at("path").get<std::string>());
  CHECK(listed == expected);
  CHECK(all.at(0).at("last_error") == error);
  CHECK(all.at(0).at("mirror") == "mimic-cxr/2.0.0");

  // Text: one header, every row, the total at the end.
  const ProcessRun text = pnsyncctl(fixture, {"failures", "mimic-cxr/2.0.0"});
  REQUIRE(text.status == 0);
  std::size_t rows = 0;
  std::size_t headers = 0;
  for (std::size_t start = 0, end; (end = text.out.find('\n', start)) != std::string::npos;
       start = end + 1) {
    const std::string_view line(text.out.data() + start, end - start);
    rows += line.starts_with("mimic-cxr/2.0.0");
    headers += line.starts_with("MIRROR");
  }
  CHECK(rows == kFailed);
  CHECK(headers == 1);
  CHECK_THAT(text.out,
             Catch::EndsWith("20,000 failed files; `pnsyncctl retry` tries them again\n"));

  // --limit: the first N, in order, and the text says more follow.
  const ProcessRun first = pnsyncctl(fixture, {"failures", "--limit", "2500", "--json"});
  REQUIRE(first.status == 0);
  const auto some = nlohmann::json::parse(first.out);
  REQUIRE(some.size() == 2500);
  CHECK(some.at(2499).at("path") == expected[2499]);
  const ProcessRun few = pnsyncctl(fixture, {"failures", "--limit=3"});
  CHECK_THAT(few.out, Catch::EndsWith("the first 3 failed files; more follow (pnsyncctl failures "
                                      "without --limit lists them all)\n"));
  CHECK(pnsyncctl(fixture, {"status", "--limit", "3"}).status == 2);

  // An older client, which sends no limit, gets the first page and is told more follow.
  LineClient older(socket);
  older.send("{\"id\":3,\"method\":\"failures\"}\n");
  const auto line = older.read_line();
  REQUIRE(line);
  const auto answer = nlohmann::json::parse(*line);
  CHECK(answer.at("ok") == true);
  CHECK(answer.at("failures").size() == 1000);
  CHECK(answer.at("more") == true);
  CHECK(answer.at("next_cursor").is_string());

  ::kill(daemon.pid(), SIGTERM);
  CHECK(daemon.wait() == 0);
}
