// SPDX-License-Identifier: MIT
// The manifest step on its own: a real destination, SQLite file, publisher and hash worker, with
// the pass (requests, retries, stops) faked, so every answer the server can give is a few
// milliseconds. The same behaviour over real HTTP is in manifest_conditional_test.cpp.
#include "daemon/job/manifest_step.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "daemon/net/http_policy.hpp"
#include "tests/support/fake_pass.hpp"
#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::FakePass;
using pnsync::test::Sandbox;

namespace {

constexpr const char* kUrl = "https://physionet.test/files/demo/1.0/SHA256SUMS.txt";
constexpr const char* kModified = "Wed, 21 Oct 2026 07:28:00 GMT";
const std::string kBody =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  files/a.dcm\n";

// One mirror's destination and state, and one pass of the step at a time over them.
struct ManifestBench {
  Sandbox sandbox;
  boost::asio::io_context io;
  Log log{LogLevel::Error};
  store::Store store{sandbox / "state.db"};
  store::MirrorId mirror = store.ensure_mirror("demo/1.0", (sandbox / "dest").string());
  LocalTree tree = LocalTree::open(sandbox / "dest").value();
  Publisher publisher{io, tree};
  HashWorker hashes{io};
  std::unique_ptr<FakePass> pass;
  std::unique_ptr<ManifestStep> step;
  bool ready = false;

  // A new pass, answered with `replies`; runs until the step is over or the pass stopped.
  void run_pass(std::deque<FakePass::Reply> replies) {
    step.reset();
    pass = std::make_unique<FakePass>(io, store);
    pass->replies = std::move(replies);
    ready = false;
    step = std::make_unique<ManifestStep>(
        ManifestStepContext{log, store, mirror, tree, publisher, hashes, kUrl, "demo/1.0",
                            sandbox / "dest"},
        *pass, [this] { ready = true; });
    step->start();
    pass->run_until([this] { return ready; });
  }
  std::filesystem::path published() const { return sandbox / "dest" / "SHA256SUMS.txt"; }
  std::optional<store::FileRecord> record() { return store.find_file(mirror, "SHA256SUMS.txt"); }
};

}  // namespace

TEST_CASE(
    "manifest step: a 200 is published into dest and recorded verified, with its hash and "
    "the server's Last-Modified",
    "[manifest_step]") {
  ManifestBench bench;
  bench.run_pass({{200, kBody, kModified}});
  REQUIRE(bench.ready);
  CHECK_FALSE(bench.pass->stopped);
  CHECK(bench.pass->answered);
  REQUIRE(bench.pass->sent.size() == 1);
  CHECK_FALSE(bench.pass->sent[0].if_modified_since);  // nothing in dest to ask about
  CHECK(test::read_file(bench.published()) == kBody);
  struct stat info {};
  REQUIRE(::stat(bench.published().c_str(), &info) == 0);
  CHECK(info.st_mtime == parse_imf_fixdate(kModified).value());
  const auto record = bench.record();
  REQUIRE(record);
  CHECK(record->state == store::FileState::Verified);
  CHECK(record->actual_sha256 == test::sha256_hex(kBody));
  CHECK(record->size == static_cast<std::int64_t>(kBody.size()));
  CHECK(bench.step->in_dest());
  CHECK_FALSE(bench.step->unchanged());
  CHECK(bench.step->file());  // open for the pass's reads
}

TEST_CASE("manifest step: the next pass asks with If-Modified-Since and keeps the copy on a 304",
          "[manifest_step]") {
  ManifestBench bench;
  bench.run_pass({{200, kBody, kModified}});
  REQUIRE(bench.ready);
  bench.run_pass({{304, "", kModified}});
  REQUIRE(bench.ready);
  CHECK_FALSE(bench.pass->stopped);
  REQUIRE(bench.pass->sent.size() == 1);
  CHECK(bench.pass->sent[0].if_modified_since == parse_imf_fixdate(kModified));
  CHECK(bench.step->unchanged());
  CHECK(bench.step->in_dest());
  REQUIRE(bench.step->file());
  CHECK(test::read_file(bench.published()) == kBody);
}

TEST_CASE("manifest step: a 304 over a copy damaged in place asks again without the condition",
          "[manifest_step]") {
  ManifestBench bench;
  bench.run_pass({{200, kBody, kModified}});
  REQUIRE(bench.ready);
  // Same size and mtime, one byte different: only the hash can tell.
  std::string damaged = kBody;
  damaged[0] = 'f';
  test::write_file(bench.published(), damaged);
  const timespec times[2] = {{0, UTIME_OMIT}, {parse_imf_fixdate(kModified).value(), 0}};
  REQUIRE(::utimensat(AT_FDCWD, bench.published().c_str(), times, 0) == 0);

  const std::string fresh = kBody + kBody;
  bench.run_pass({{304, "", kModified}, {200, fresh, kModified}});
  REQUIRE(bench.ready);
  REQUIRE(bench.pass->sent.size() == 2);
  CHECK(bench.pass->sent[0].if_modified_since);
  CHECK_FALSE(bench.pass->sent[1].if_modified_since);  // the record no longer vouches for it
  CHECK_FALSE(bench.step->unchanged());
  CHECK(test::read_file(bench.published()) == fresh);
  CHECK(bench.record()->actual_sha256 == test::sha256_hex(fresh));
}

TEST_CASE("manifest step: a server with no SHA256SUMS.txt (404) ends the step with no file",
          "[manifest_step]") {
  ManifestBench bench;
  bench.run_pass({{404, "<html>Not Found</html>", std::nullopt}});
  REQUIRE(bench.ready);
  CHECK_FALSE(bench.pass->stopped);
  CHECK(bench.pass->answered);
  CHECK_FALSE(bench.step->file());
  CHECK_FALSE(bench.step->in_dest());
  CHECK_FALSE(std::filesystem::exists(bench.published()));
}

TEST_CASE("manifest step: a 401 stops the pass at once, without a retry or a file in dest",
          "[manifest_step]") {
  ManifestBench bench;
  bench.run_pass({{401, "", std::nullopt}});
  CHECK_FALSE(bench.ready);
  REQUIRE(bench.pass->stopped);
  CHECK(bench.pass->stopped->first == JobStatus::AuthFailed);
  CHECK(bench.pass->retries == 0);
  CHECK_FALSE(bench.pass->answered);  // dest does not become the mirror's
  CHECK_FALSE(std::filesystem::exists(bench.published()));
}

TEST_CASE(
    "manifest step: a 503 is retried, and the pass fails naming the URL once the tries are "
    "spent",
    "[manifest_step]") {
  ManifestBench bench;
  bench.run_pass({{503, "", std::nullopt}, {503, "", std::nullopt}, {503, "", std::nullopt}});
  CHECK_FALSE(bench.ready);
  REQUIRE(bench.pass->stopped);
  CHECK(bench.pass->stopped->first == JobStatus::Failed);
  CHECK(bench.pass->retries == 2);
  CHECK(bench.pass->sent.size() == 3);
  CHECK_THAT(bench.pass->stopped->second,
             Catch::Contains(kUrl) && Catch::Contains("gave up after 3 attempts"));
}

TEST_CASE("manifest step: a 503 then a 200 publishes the manifest", "[manifest_step]") {
  ManifestBench bench;
  bench.run_pass({{503, "", std::nullopt}, {200, kBody, kModified}});
  REQUIRE(bench.ready);
  CHECK(bench.pass->retries == 1);
  CHECK(test::read_file(bench.published()) == kBody);
}
