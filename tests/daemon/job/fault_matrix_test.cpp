// SPDX-License-Identifier: MIT
// A server that misbehaves, over TLS: for each fault, the outcome (retried then verified, or failed
// with the right reason), how many requests the server saw (no retry storm), that the backoff was
// honoured, and that nothing incomplete was published. Plain-HTTP cases already in
// mirror_test.cpp (reset, ignored Range, wrong bytes, stall, 416, a single 404) are not repeated.
#include <catch2/catch.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "tests/daemon/mirror_fixture.hpp"
#include "tests/support/http_wire.hpp"

using namespace pnsync;
using namespace pnsync::test;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

const std::string kBigImage =
    "files/p11/p11000011/s51234567/2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.dcm";
const std::string kSmallImage =
    "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm";
const std::string kReport = "files/p11/p11000011/s51234567.txt";

// retry_base 100 ms, retry_max 400 ms: attempt n waits uniformly in [d/2, d] with
// d = min(400, 100 * 2^(n-1)) ms, so the wait before request n+1 is at least this.
std::chrono::milliseconds min_backoff(int attempt) {
  long d = 100;
  for (int i = 1; i < attempt && d < 400; ++i) d = std::min(400L, d * 2);
  return std::chrono::milliseconds(d / 2);
}

// Over TLS, with short backoff so the table runs in seconds.
struct TlsFixture : MirrorFixture {
  explicit TlsFixture(int max_attempts) : MirrorFixture({.tls = Tls::Trusted}) {
    config.retry_base = 100ms;
    config.retry_max = 400ms;
    config.max_attempts = max_attempts;
  }
};

std::vector<RequestRecord> requests_for(const MirrorFixture& fixture, const std::string& rel) {
  std::vector<RequestRecord> out;
  for (const auto& request : fixture.server->requests())
    if (request.path == fixture.url_path(rel)) out.push_back(request);
  return out;
}

// Stands for "an HTTP-date 3 s from now", made when the fault is set (the TLS fixture takes a
// while to build its CA, so a date made with the table would be half spent).
constexpr const char* kDateIn3s = "<date in 3 s>";

std::string http_date_in(std::chrono::seconds from_now) {
  return http::imf_fixdate(std::time(nullptr) + from_now.count());
}

struct Row {
  const char* name;
  std::string rel;
  Fault fault;
  int max_attempts;
  bool verified;                  // else the file fails
  std::size_t requests;           // for that file, in the pass
  std::chrono::milliseconds gap;  // at least this between consecutive requests (0: backoff table)
  const char* reason;             // in last_error and the summary when the file fails
};

}  // namespace

TEST_CASE("server faults over TLS: retried then verified, or failed for the right reason",
          "[mirror][tls][faults]") {
  using K = Fault::Kind;
  // Rows whose gap is 0ms are checked against the backoff table (min_backoff).
  const Row row = GENERATE(values<Row>({
      {"502 twice, then the file", kSmallImage, {K::Status, 0, 502, {}, 2}, 5, true, 3, 0ms, ""},
      {"500 every time: fails after max_attempts, no more",
       kSmallImage,
       {K::Status, 0, 500, {}, -1},
       3,
       false,
       3,
       0ms,
       "500"},
      {"503 with Retry-After as an HTTP-date: waits until then",
       kSmallImage,
       {K::Status, 0, 503, std::string(kDateIn3s), 1},
       5,
       true,
       2,
       1500ms,
       ""},
      {"429 with Retry-After in seconds",
       kReport,
       {K::Status, 0, 429, std::string("1"), 1},
       5,
       true,
       2,
       1000ms,
       ""},
      {"body cut short without TLS close_notify: resumed with a Range",
       kBigImage,
       {K::Truncate, 1 << 20, 0, {}, 1},
       5,
       true,
       2,
       0ms,
       ""},
      {"connection reset mid-body over TLS",
       kBigImage,
       {K::ResetAfter, 512 << 10, 0, {}, 1},
       5,
       true,
       2,
       0ms,
       ""},
      {"reset every time: fails after max_attempts",
       kSmallImage,
       {K::ResetAfter, 1000, 0, {}, -1},
       3,
       false,
       3,
       0ms,
       "Connection reset"},
  }));
  CAPTURE(row.name);
  TlsFixture fixture(row.max_attempts);
  Fault fault = row.fault;
  if (fault.retry_after == kDateIn3s) fault.retry_after = http_date_in(3s);
  fixture.server->set_fault(fixture.url_path(row.rel), fault);
  const ExitCode code = fixture.run();
  INFO(fixture.summary);

  const auto requests = requests_for(fixture, row.rel);
  CHECK(requests.size() == row.requests);
  for (std::size_t i = 1; i < requests.size(); ++i) {
    const auto gap = requests[i].at - requests[i - 1].at;
    const auto wanted = row.gap.count() > 0 ? row.gap : min_backoff(static_cast<int>(i));
    INFO("gap before request " << i + 1 << ": "
                               << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
                               << " ms, at least " << wanted.count() << " ms wanted");
    CHECK(gap >= wanted);
  }
  auto record = fixture.record(row.rel);
  REQUIRE(record);
  if (row.verified) {
    CHECK(code == ExitCode::Ok);
    CHECK(record->state == store::FileState::Verified);
    CHECK_MIRRORED(fixture);
  } else {
    CHECK(code == ExitCode::FilesFailed);
    CHECK(record->state == store::FileState::Failed);
    CHECK(record->last_error.find(row.reason) != std::string::npos);
    CHECK(fixture.summary.find(row.rel) != std::string::npos);
    CHECK(fixture.summary.find("    1 failed:\n") != std::string::npos);
    CHECK_FALSE(fs::exists(fixture.dest / row.rel));  // nothing incomplete under its name
  }
  // Everything else arrived regardless.
  for (const auto& [rel, content] : fixture.files) {
    if (rel == row.rel) continue;
    INFO(rel);
    CHECK(sha256_file_hex(fixture.dest / rel) == sha256_hex(content));
  }
}

TEST_CASE(
    "a 206 whose Content-Range is not the range asked for is refused, then the file is "
    "fetched whole",
    "[mirror][tls][faults][resume]") {
  TlsFixture fixture(1);
  const auto target = fixture.url_path(kBigImage);
  // First pass: cut after 1 MiB, one attempt: a partial file stays behind.
  fixture.server->set_fault(target, {Fault::Kind::ResetAfter, 1 << 20, 0, {}, -1});
  REQUIRE(fixture.run() == ExitCode::FilesFailed);
  REQUIRE_FALSE(fs::exists(fixture.dest / kBigImage));

  fixture.config.max_attempts = 3;
  fixture.server->clear_faults();
  fixture.server->clear_requests();
  // The resume gets bytes 4096 further on than it asked for, labelled as such.
  fixture.server->set_fault(target, {Fault::Kind::WrongContentRange, 4096, 0, {}, 1});
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto requests = requests_for(fixture, kBigImage);
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].range.rfind("bytes=", 0) == 0);
  CHECK(requests[0].status == 206);
  CHECK(requests[1].range.empty());  // the kept bytes were dropped: start over
  CHECK(requests[1].at - requests[0].at >= min_backoff(1));
  CHECK_MIRRORED(fixture);
}

TEST_CASE("the listing changes between passes: new and changed files follow",
          "[mirror][tls][faults]") {
  TlsFixture fixture(3);
  REQUIRE(fixture.run() == ExitCode::Ok);

  const std::string added = "files/p10/p10000032/s59999999.txt";
  write_file(fixture.source / added, "FINAL REPORT\n added later.\n");
  const std::string changed = random_bytes(81234, 99);  // another size: the listing shows it
  write_file(fixture.source / kSmallImage, changed);
  {
    // Make the finished crawl look old, as relist_after would after a day.
    store::Store store(fixture.config.state_dir / "state.db");
    store.set_crawl_complete(store.ensure_mirror("mimic-cxr/2.0.0", fixture.dest.string()), 0);
  }
  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK(requests_for(fixture, added).size() == 1);
  CHECK(requests_for(fixture, kSmallImage).size() == 1);
  CHECK(requests_for(fixture, kBigImage).empty());  // unchanged: not fetched again
  CHECK(read_file(fixture.dest / added) == "FINAL REPORT\n added later.\n");
  CHECK(read_file(fixture.dest / kSmallImage) == changed);
  CHECK_MIRRORED(fixture);
}

TEST_CASE("a file that disappears upstream after being listed fails with 404, once",
          "[mirror][tls][faults]") {
  TlsFixture fixture(1);
  // First pass: the file is listed but cannot be fetched (500), so it is left to the next pass.
  fixture.server->set_fault(fixture.url_path(kSmallImage), {Fault::Kind::Status, 0, 500, {}, -1});
  REQUIRE(fixture.run() == ExitCode::FilesFailed);
  fixture.server->clear_faults();
  fixture.server->clear_requests();
  fs::remove(fixture.source / kSmallImage);

  fixture.config.max_attempts = 5;
  REQUIRE(fixture.run() == ExitCode::FilesFailed);
  CHECK(requests_for(fixture, kSmallImage).size() == 1);  // a 404 is not retried
  CHECK(fixture.summary.find("404") != std::string::npos);
  auto record = fixture.record(kSmallImage);
  REQUIRE(record);
  CHECK(record->state == store::FileState::Failed);
  CHECK_FALSE(fs::exists(fixture.dest / kSmallImage));
}

// A file that is gone from the listing must not be requeued and fail with 404 on every later
// pass: a re-listing that no longer shows it retires its row.
TEST_CASE("a file removed upstream stops failing once its directory is listed again",
          "[mirror][tls][faults]") {
  TlsFixture fixture(1);
  fixture.server->set_fault(fixture.url_path(kSmallImage), {Fault::Kind::Status, 0, 500, {}, -1});
  REQUIRE(fixture.run() == ExitCode::FilesFailed);
  fixture.server->clear_faults();
  fs::remove(fixture.source / kSmallImage);
  {
    store::Store store(fixture.config.state_dir / "state.db");
    store.set_crawl_complete(store.ensure_mirror("mimic-cxr/2.0.0", fixture.dest.string()), 0);
  }
  fixture.server->clear_requests();
  CHECK(fixture.run() == ExitCode::Ok);
  CHECK(requests_for(fixture, kSmallImage).empty());
}

// Transfer::start() creates the partial file before the request: a final 404 must remove it.
TEST_CASE("a 404 leaves no empty partial file behind", "[mirror][tls][faults]") {
  TlsFixture fixture(3);
  fixture.server->set_fault(fixture.url_path(kSmallImage), {Fault::Kind::Status, 0, 404, {}, -1});
  REQUIRE(fixture.run() == ExitCode::FilesFailed);
  CHECK(partial_files(fixture.dest).empty());
}

TEST_CASE("connects that hang are retried without using up max_attempts, then the mirror completes",
          "[mirror][tls][faults]") {
  // max_attempts 1: any try that counted and failed would fail the pass. The manifest request
  // goes alone first, so it meets both hanging connects: two TLS handshakes the server never
  // answers, each a connect time-out with no request sent, before a third connect works.
  TlsFixture fixture(1);
  fixture.config.connect_timeout = 1s;
  fixture.server->hang_connections(2);
  const ExitCode code = fixture.run();
  INFO(fixture.summary);
  INFO(fixture.log);
  CHECK(code == ExitCode::Ok);
  CHECK_MIRRORED(fixture);
  // The server saw each request once: the hung connects carried none.
  CHECK(requests_for(fixture, "SHA256SUMS.txt").size() == 1);
}

TEST_CASE("a listing over the size limit is refused once, with a clear message",
          "[mirror][faults]") {
  MirrorFixture fixture;
  fixture.listing_limit = 64;  // bytes: every listing of the fixture is larger
  CHECK(fixture.run() != ExitCode::Ok);
  INFO(fixture.log);
  CHECK_THAT(fixture.log, Catch::Contains(fixture.server->url() +
                                          ": listing larger than 64 B "
                                          "(decompressed); refused, this directory is not listed"));
  // Not retried: the same listing would be as large again.
  CHECK(fixture.server->count_requests(fixture.url_path("")) == 1);
  // What the manifest lists is still mirrored.
  CHECK(fixture.record("LICENSE.txt")->state == store::FileState::Verified);
}
