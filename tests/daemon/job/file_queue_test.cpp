// SPDX-License-Identifier: MIT
// The file queue of a pass against the loopback server, with the pass itself faked: what each
// outcome of an attempt does to the file (reported verified, retried to max_attempts then given
// up, the pass stopped on 403, handed back as a directory) and that a file dropped while queued is
// never asked for. Whole passes over the same paths are in mirror_test.cpp and
// fault_matrix_test.cpp.
#include "daemon/job/file_queue.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "daemon/net/curl_handles.hpp"
#include "daemon/net/http_client.hpp"
#include "tests/support/fake_pass.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/sandbox.hpp"

using namespace pnsync;
using namespace std::chrono_literals;
using pnsync::test::FakePass;

namespace {

// The server's tree, before anything that asks it.
struct Served {
  Served() {
    test::write_file(sandbox / "src/ok.txt", "hello");
    test::write_file(sandbox / "src/broken.txt", "never served");
    test::write_file(sandbox / "src/denied.txt", "not for you");
    test::write_file(sandbox / "src/sub/inner.txt", "inside");
    server = std::make_unique<test::HttpServer>(test::ServerOptions{.root = sandbox / "src"});
  }
  test::Sandbox sandbox;
  std::unique_ptr<test::HttpServer> server;
};

HttpSettings loopback_settings() {
  HttpSettings settings;
  settings.user_agent = "Wget/1.21.3 (pnsync test)";
  settings.allow_plain_http = true;
  settings.connect_timeout = 5s;
  settings.stall_timeout = 5s;
  return settings;
}

struct QueueBench : Served {
  curl::GlobalInit curl;
  boost::asio::io_context io;
  Log log{LogLevel::Error};
  store::Store store{sandbox / "state.db"};
  store::MirrorId mirror = store.ensure_mirror("demo/1.0", (sandbox / "dest").string());
  HttpClient http{io, loopback_settings()};
  Scheduler scheduler{io, 4, 2};
  LocalTree tree = LocalTree::open(sandbox / "dest").value();
  TransferContext transfers{
      io, log, http, tree, server->base_url() + "/files/demo/1.0/", [](std::int64_t) {}, {}};
  RetryWaits retries{io, log, scheduler, "demo/1.0", {1ms, 4ms}};
  FakePass pass{io, store};
  std::shared_ptr<int> owner = std::make_shared<int>(0);
  std::vector<store::VerifiedFile> verified;
  std::vector<std::string> directories;
  FileQueue queue{
      FileQueueContext{io, log, scheduler, store, mirror, transfers, retries, 3, owner}, pass,
      FileQueueEvents{[this](const AttemptResult& result) { verified.push_back(result.verified); },
                      [this](const std::string& dir) { directories.push_back(dir); }, [] {}}};

  store::FileRecord record(const std::string& path) {
    const store::DiscoveredFile file{path, std::nullopt, std::nullopt, std::nullopt};
    store.upsert_files(mirror, std::span(&file, 1));
    return store.find_file(mirror, path).value();
  }
  std::size_t requests_for(const std::string& name) const {
    std::size_t count = 0;
    for (const auto& request : server->requests())
      count += request.path == "/files/demo/1.0/" + name ? 1 : 0;
    return count;
  }
  void run_until_empty() {
    pass.run_until([this] { return queue.empty() && retries.waiting() == 0; });
  }
};

}  // namespace

TEST_CASE("file queue: a fetched file is published, reported verified and leaves the queue",
          "[file_queue]") {
  QueueBench bench;
  const auto record = bench.record("ok.txt");
  bench.queue.enqueue(record);
  bench.queue.enqueue(record);  // queued once
  CHECK(bench.queue.size() == 1);
  bench.run_until_empty();
  CHECK_FALSE(bench.pass.stopped);
  CHECK(bench.queue.empty());
  REQUIRE(bench.verified.size() == 1);
  CHECK(bench.verified[0].id == record.id);
  CHECK(bench.verified[0].size == 5);
  CHECK(bench.verified[0].sha256 == test::sha256_hex("hello"));
  CHECK(test::read_file(bench.sandbox / "dest/ok.txt") == "hello");
  CHECK(bench.requests_for("ok.txt") == 1);
}

TEST_CASE("file queue: a 500 is retried up to max_attempts, then the file is given up",
          "[file_queue]") {
  QueueBench bench;
  bench.server->set_fault("/files/demo/1.0/broken.txt",
                          {.kind = test::Fault::Kind::Status, .status = 500});
  bench.queue.enqueue(bench.record("broken.txt"));
  bench.run_until_empty();
  CHECK_FALSE(bench.pass.stopped);
  CHECK(bench.queue.empty());
  CHECK(bench.requests_for("broken.txt") == 3);
  CHECK(bench.queue.gave_up("broken.txt"));
  const auto record = bench.store.find_file(bench.mirror, "broken.txt");
  REQUIRE(record);
  CHECK(record->state == store::FileState::Failed);
  CHECK(record->attempts == 3);
  CHECK(bench.verified.empty());
}

TEST_CASE("file queue: a 403 stops the pass at once, without a retry", "[file_queue]") {
  QueueBench bench;
  bench.server->set_fault("/files/demo/1.0/denied.txt",
                          {.kind = test::Fault::Kind::Status, .status = 403});
  bench.queue.enqueue(bench.record("denied.txt"));
  bench.pass.run_until([&] { return bench.pass.stopped.has_value(); });
  REQUIRE(bench.pass.stopped);
  CHECK(bench.pass.stopped->first == JobStatus::AccessDenied);
  CHECK(bench.requests_for("denied.txt") == 1);
  CHECK_FALSE(bench.queue.gave_up("denied.txt"));
}

TEST_CASE("file queue: a name that is a directory is handed back to be listed, its row gone",
          "[file_queue]") {
  QueueBench bench;
  bench.queue.enqueue(bench.record("sub"));
  bench.run_until_empty();
  CHECK_FALSE(bench.pass.stopped);
  CHECK(bench.directories == std::vector<std::string>{"sub/"});
  CHECK_FALSE(bench.store.find_file(bench.mirror, "sub"));
  CHECK(bench.verified.empty());
}

TEST_CASE("file queue: a file forgotten while it waits for a slot is never asked for",
          "[file_queue]") {
  QueueBench bench;
  bench.scheduler.set_limit(Lane::File, 0);
  bench.queue.enqueue(bench.record("ok.txt"));
  CHECK(bench.queue.holds("ok.txt"));
  bench.queue.forget("ok.txt");
  CHECK_FALSE(bench.queue.holds("ok.txt"));
  bench.scheduler.set_limit(Lane::File, 4);
  bench.io.restart();
  bench.io.run_for(200ms);  // the scheduler hands the freed slot to the forgotten file's task
  CHECK(bench.requests_for("ok.txt") == 0);
  CHECK(bench.verified.empty());
}
