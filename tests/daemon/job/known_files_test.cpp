// SPDX-License-Identifier: MIT
// The files a pass already knows, on a real SQLite file and a real dest: verified files are looked
// at on disk (missing ones fetched again, open modes closed), failed ones get a fresh start unless
// a new listing should decide, and every unfinished file is queued.
#include "daemon/job/known_files.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <span>
#include <string>
#include <vector>

#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::Sandbox;

namespace {

struct KnownBench {
  Sandbox sandbox;
  Log log{LogLevel::Error};
  store::Store store{sandbox / "state.db"};
  store::MirrorId mirror = store.ensure_mirror("demo/1.0", (sandbox / "dest").string());
  LocalTree tree = LocalTree::open(sandbox / "dest").value();
  bool verify_at_rest = false;
  bool relisting = false;
  std::vector<std::string> queued;

  store::FileRecord add(const std::string& path, bool from_manifest = true) {
    const store::DiscoveredFile file{
        path, 5, from_manifest ? std::optional<std::string>(std::string(64, 'a')) : std::nullopt,
        std::nullopt};
    store.upsert_files(mirror, std::span(&file, 1));
    return store.find_file(mirror, path).value();
  }
  void verify(const std::string& path) {
    const store::VerifiedFile verified{add(path).id, 5, std::string(64, 'a'),
                                       store::VerifyKind::Sha256Manifest};
    store.mark_verified(std::span(&verified, 1));
  }
  LocalTree::Closed plan() {
    const KnownFilesContext context{
        log, store, mirror, tree, "demo/1.0", sandbox / "dest", verify_at_rest, relisting};
    return plan_known_files_of(
        context, [this](const store::FileRecord& file) { queued.push_back(file.path); });
  }
  store::FileState state(const std::string& path) {
    return store.find_file(mirror, path).value().state;
  }
};

}  // namespace

TEST_CASE("known files: a verified file missing on disk is fetched again, an intact one is not",
          "[known_files]") {
  KnownBench bench;
  bench.verify("here.txt");
  bench.verify("gone.txt");
  bench.verify("short.txt");
  test::write_file(bench.sandbox / "dest/here.txt", "hello");
  test::write_file(bench.sandbox / "dest/short.txt", "hel");  // not the size verified
  bench.plan();
  CHECK(bench.queued == std::vector<std::string>{"gone.txt", "short.txt"});
  CHECK(bench.state("here.txt") == store::FileState::Verified);
  CHECK(bench.state("gone.txt") == store::FileState::Pending);
}

TEST_CASE("known files: with verify at rest, a missing verified file is left to it",
          "[known_files]") {
  KnownBench bench;
  bench.verify_at_rest = true;
  bench.verify("gone.txt");
  bench.plan();
  CHECK(bench.queued.empty());
  CHECK(bench.state("gone.txt") == store::FileState::Verified);
}

TEST_CASE(
    "known files: a failed file gets a fresh start, unless only a listing knows it and the "
    "crawl lists again",
    "[known_files]") {
  KnownBench bench;
  for (const auto& [path, manifest] : {std::pair{"manifest.txt", true}, {"listed.txt", false}}) {
    const auto record = bench.add(path, manifest);
    bench.store.record_attempt_error(record.id, "500", true);
    REQUIRE(bench.state(path) == store::FileState::Failed);
  }
  bench.add("pending.txt");

  bench.relisting = true;
  bench.plan();
  CHECK(bench.queued == std::vector<std::string>{"manifest.txt", "pending.txt"});
  CHECK(bench.state("manifest.txt") == store::FileState::Pending);
  CHECK(bench.store.find_file(bench.mirror, "manifest.txt")->attempts == 0);
  CHECK(bench.state("listed.txt") == store::FileState::Failed);  // the listing decides

  bench.relisting = false;
  bench.queued.clear();
  bench.plan();
  CHECK(bench.queued == std::vector<std::string>{"listed.txt", "manifest.txt", "pending.txt"});
}

TEST_CASE("known files: a verified file others may read is closed, with its directories",
          "[known_files]") {
  KnownBench bench;
  bench.verify("a/open.txt");
  bench.verify("a/closed.txt");
  const auto dest = bench.sandbox / "dest";
  test::write_file(dest / "a/open.txt", "hello");
  test::write_file(dest / "a/closed.txt", "hello");
  REQUIRE(::chmod((dest / "a").c_str(), 0755) == 0);
  REQUIRE(::chmod((dest / "a/open.txt").c_str(), 0644) == 0);
  REQUIRE(::chmod((dest / "a/closed.txt").c_str(), 0640) == 0);
  const LocalTree::Closed closed = bench.plan();
  CHECK(bench.queued.empty());
  CHECK(closed.world_readable >= 2);  // the file and its directory
  struct stat info {};
  REQUIRE(::stat((dest / "a/open.txt").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0640);
  REQUIRE(::stat((dest / "a").c_str(), &info) == 0);
  CHECK((info.st_mode & S_IRWXO) == 0);
}
