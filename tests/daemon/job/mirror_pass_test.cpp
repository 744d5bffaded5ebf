// SPDX-License-Identifier: MIT
// Whole passes of MirrorJob with the network scripted (tests/support/fake_fetcher.hpp) and
// everything else real: scheduler, SQLite file, dest, publisher. Each runs in milliseconds; the
// same behaviour over real HTTP is in mirror_test.cpp and fault_matrix_test.cpp.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/job/mirror_job.hpp"
#include "tests/support/fake_fetcher.hpp"
#include "tests/support/listing_render.hpp"
#include "tests/support/sandbox.hpp"

using namespace pnsync;
using namespace std::chrono_literals;
using pnsync::test::DirEntry;
using pnsync::test::FakeFetcher;
using pnsync::test::Sandbox;

namespace {

constexpr const char* kServer = "https://physionet.test";
const std::string kRoot = std::string(kServer) + "/files/demo/1.0/";

std::string listing(const std::string& dir, std::vector<DirEntry> entries) {
  return test::render_listing(test::ListingStyle::Nginx, {"/files/demo/1.0/" + dir},
                              std::move(entries));
}
DirEntry file(std::string name, std::uint64_t size) {
  return {std::move(name), false, size, 1'699'999'980};
}
DirEntry dir(std::string name) {
  return {std::move(name), true, 0, 1'699'999'980};
}
FakeFetcher::Reply status(long code) {
  FakeFetcher::Reply reply;
  reply.status = code;
  return reply;
}

struct PassBench {
  Sandbox sandbox;
  boost::asio::io_context io;
  Log log{LogLevel::Error};
  FakeFetcher fetcher{io};
  Scheduler scheduler{io, 4, 2};
  store::Store store{sandbox / "state.db"};
  config::Config config = [this] {
    config::Config c;
    c.server = kServer;
    c.state_dir = sandbox / "state";
    c.max_attempts = 3;
    c.retry_base = 1ms;
    c.retry_max = 4ms;
    c.mirrors.push_back({"demo", "1.0", sandbox / "dest"});
    return c;
  }();
  std::shared_ptr<MirrorJob> job;
  bool finished = false;

  // The server: SHA256SUMS.txt lists files/a.dcm; the root shows files/ (covered by the
  // manifest), README.txt and the manifest itself.
  void serve_demo() {
    const std::string manifest = test::sha256_hex("image") + "  files/a.dcm\n";
    fetcher.serve(kRoot + "SHA256SUMS.txt", manifest);
    fetcher.serve(kRoot, listing("", {dir("files"), file("README.txt", 6),
                                      file("SHA256SUMS.txt", manifest.size())}));
    fetcher.serve(kRoot + "files/a.dcm", "image");
    fetcher.serve(kRoot + "README.txt", "readme");
  }
  // One pass; `on_end` runs each time the job reports its end (once, if all is well).
  JobStatus run(const std::function<void()>& on_end = [] {}) {
    finished = false;
    job = std::make_shared<MirrorJob>(JobServices{io, log, fetcher, scheduler, store}, config,
                                      config.mirrors.front(), kServer, [this, on_end](MirrorJob&) {
                                        finished = true;
                                        on_end();
                                      });
    job->start();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!finished && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
    REQUIRE(finished);
    return job->status();
  }
  std::filesystem::path dest() const { return sandbox / "dest"; }
  store::MirrorId mirror_id() { return store.ensure_mirror("demo/1.0", dest().string()); }
};

}  // namespace

TEST_CASE("mirror pass: manifest, listing and files verified, without a socket", "[mirror_pass]") {
  PassBench bench;
  bench.serve_demo();
  CHECK(bench.run() == JobStatus::Done);
  CHECK(test::read_file(bench.dest() / "files/a.dcm") == "image");
  CHECK(test::read_file(bench.dest() / "README.txt") == "readme");
  const auto counts = bench.store.counts(bench.mirror_id());
  CHECK(counts.files_verified == 3);                         // the manifest too
  CHECK(bench.fetcher.requests_for(kRoot + "files/") == 0);  // the manifest covers it
  CHECK(bench.fetcher.sent().size() == 4);
  const auto image = bench.store.find_file(bench.mirror_id(), "files/a.dcm");
  REQUIRE(image);
  CHECK(image->verified_by == store::VerifyKind::Sha256Manifest);

  // Nothing to do the second time: one conditional request would do against a real server;
  // here the manifest is asked for again and nothing else, since the listing is recent.
  CHECK(bench.run() == JobStatus::Done);
  CHECK(bench.fetcher.sent().size() == 5);
}

TEST_CASE("mirror pass: a 503 is retried, a 500 every time is given up after max_attempts",
          "[mirror_pass]") {
  PassBench bench;
  bench.serve_demo();
  bench.fetcher.script(kRoot + "files/a.dcm", {status(503), [] {
                                                 FakeFetcher::Reply ok;
                                                 ok.body = "image";
                                                 return ok;
                                               }()});
  bench.fetcher.script(kRoot + "README.txt", {status(500)});
  CHECK(bench.run() == JobStatus::Done);  // a pass whose listings all worked ends Done
  CHECK(bench.fetcher.requests_for(kRoot + "files/a.dcm") == 2);
  CHECK(test::read_file(bench.dest() / "files/a.dcm") == "image");
  CHECK(bench.fetcher.requests_for(kRoot + "README.txt") == 3);
  const auto failures = bench.store.failed_files(bench.mirror_id());
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].path == "README.txt");
  CHECK(failures[0].attempts == 3);
  CHECK_FALSE(std::filesystem::exists(bench.dest() / "README.txt"));
}

TEST_CASE(
    "mirror pass: a file that will not fit ends its first pass once, failed, and stops the next "
    "as out of space before any file is asked for",
    "[mirror_pass]") {
  PassBench bench;
  bench.serve_demo();
  // A petabyte: no file system this test runs on has room for it. The server has not got it
  // either (404), so the first pass gives up on it.
  bench.fetcher.serve(
      kRoot, listing("", {file("README.txt", 6), file("huge.dcm", std::uint64_t{1} << 50)}));
  int ends = 0;
  CHECK(bench.run([&] { ++ends; }) == JobStatus::Done);
  CHECK(ends == 1);
  CHECK(bench.store.failed_files(bench.mirror_id()).size() == 1);

  const std::size_t before = bench.fetcher.sent().size();
  CHECK(bench.run() == JobStatus::NoSpace);
  CHECK_THAT(bench.job->status_message(), Catch::Contains(bench.dest().string()));
  CHECK(bench.fetcher.sent().size() == before + 1);  // SHA256SUMS.txt only
  CHECK_FALSE(std::filesystem::exists(bench.dest() / "huge.dcm"));
}

TEST_CASE("mirror pass: a 401 on the manifest stops at once, with one request and dest untouched",
          "[mirror_pass]") {
  PassBench bench;
  bench.fetcher.script(kRoot + "SHA256SUMS.txt", {status(401)});
  CHECK(bench.run() == JobStatus::AuthFailed);
  CHECK(bench.fetcher.sent().size() == 1);
  CHECK_FALSE(bench.store.dest_marker(bench.mirror_id()));  // dest is not the mirror's yet
  const auto work_area = bench.dest() / ".pnsync-partial";
  CHECK((!std::filesystem::exists(work_area) || std::filesystem::is_empty(work_area)));
}
