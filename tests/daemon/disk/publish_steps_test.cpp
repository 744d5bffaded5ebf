// SPDX-License-Identifier: MIT
// Publishing a file is: write the partial → fsync → rename to the final name → fsync the
// directory → commit "verified" in the database. A crash (or a power cut) can stop it after any
// step. Each section builds one such state directly — files on disk through LocalTree's partial
// naming, the row through the Store API, no hook in the engine — runs a pass, and checks that it
// converges: the tree is exact, no partial is left, the row is verified, and the file's bytes
// were fetched again only when they were really missing.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "daemon/disk/local_tree.hpp"
#include "tests/daemon/mirror_fixture.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

namespace fs = std::filesystem;

// Found by crawling: verified by its size from the listing.
const std::string kCrawled =
    "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm";
// In SHA256SUMS.txt (and in the root listing, so its size is known too).
const std::string kInManifest = "cxr-record-list.csv.gz";

fs::path partial_path(const MirrorFixture& fixture, const std::string& rel) {
  auto tree = LocalTree::open(fixture.dest);
  REQUIRE(tree);
  return fixture.dest / kPartialDirName / tree->partial_name(rel);
}

ino_t inode_of(const fs::path& file) {
  struct stat info {};
  REQUIRE(::lstat(file.c_str(), &info) == 0);
  return info.st_ino;
}

store::FileId file_id(const MirrorFixture& fixture, const std::string& rel) {
  auto record = fixture.record(rel);
  REQUIRE(record);
  return record->id;
}

store::Store open_store(const MirrorFixture& fixture) {
  return store::Store(fixture.config.state_dir / "state.db");
}

// The row as the transfer leaves it before the commit: Partial, with `bytes` downloaded.
void mark_uncommitted(const MirrorFixture& fixture, const std::string& rel, std::size_t bytes) {
  store::Store store = open_store(fixture);
  const store::FileId id = file_id(fixture, rel);
  store.requeue(id);
  store.mark_partial(id, static_cast<std::int64_t>(bytes));
}

// The requests for `rel` in the last pass, and the Range each carried.
std::vector<std::string> ranges_asked(const MirrorFixture& fixture, const std::string& rel) {
  std::vector<std::string> ranges;
  for (const auto& request : fixture.server->requests())
    if (request.path == fixture.url_path(rel)) ranges.push_back(request.range);
  return ranges;
}

void check_converged(MirrorFixture& fixture, const std::string& rel) {
  CHECK_MIRRORED(fixture);
  CHECK(partial_files(fixture.dest).empty());
  auto record = fixture.record(rel);
  REQUIRE(record);
  CHECK(record->state == store::FileState::Verified);
  CHECK(record->actual_sha256 == sha256_hex(fixture.files.at(rel)));
  CHECK(open_store(fixture).integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
}

}  // namespace

TEST_CASE("a crash at each step of publishing converges without loss or needless refetch",
          "[mirror][publish][crash]") {
  const std::string rel = GENERATE(kCrawled, kInManifest);
  const auto expected_kind =
      rel == kInManifest ? store::VerifyKind::Sha256Manifest : store::VerifyKind::Size;
  CAPTURE(rel);
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  const std::string& content = fixture.files.at(rel);
  const fs::path final_name = fixture.dest / rel;
  const fs::path partial = partial_path(fixture, rel);

  SECTION("partial written, not fsynced: a power cut kept only its first half") {
    fs::remove(final_name);
    write_file(partial, content.substr(0, content.size() / 2));
    // The row remembers more than survived: the file's length is the truth, not bytes_done.
    mark_uncommitted(fixture, rel, content.size());
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    // Only the missing half travels.
    CHECK(ranges_asked(fixture, rel) ==
          std::vector<std::string>{"bytes=" + std::to_string(content.size() / 2) + "-"});
    check_converged(fixture, rel);
  }

  SECTION("partial written, not fsynced: a power cut kept its length but lost its last bytes") {
    if (rel == kCrawled) {
      // Verified by size only: a full-length partial whose tail reads as zeros cannot be told
      // from the real file. That needs the hash the manifest gives (documented in design.md).
      SUCCEED("not detectable without a manifest hash");
      return;
    }
    fs::remove(final_name);
    std::string damaged = content;
    std::fill(damaged.begin() + static_cast<std::ptrdiff_t>(damaged.size() / 2), damaged.end(),
              '\0');
    write_file(partial, damaged);
    mark_uncommitted(fixture, rel, content.size());
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    // The complete-looking partial fails its hash, is thrown away and fetched whole, once.
    CHECK(ranges_asked(fixture, rel) == std::vector<std::string>{""});
    check_converged(fixture, rel);
  }

  SECTION("fsynced, not renamed: a complete partial is published without the network") {
    fs::rename(final_name, partial);
    const ino_t inode = inode_of(partial);
    mark_uncommitted(fixture, rel, content.size());
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK(ranges_asked(fixture, rel).empty());
    CHECK(inode_of(final_name) == inode);  // renamed into place, not rewritten
    check_converged(fixture, rel);
    CHECK(fixture.record(rel)->verified_by == expected_kind);
  }

  SECTION("renamed, not committed: the file under its final name is adopted after a re-hash") {
    const ino_t inode = inode_of(final_name);
    mark_uncommitted(fixture, rel, content.size());
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK(ranges_asked(fixture, rel).empty());
    CHECK(inode_of(final_name) == inode);
    check_converged(fixture, rel);
    CHECK(fixture.record(rel)->verified_by == expected_kind);
  }

  SECTION("renamed, not committed, and the row had never left Pending") {
    const ino_t inode = inode_of(final_name);
    open_store(fixture).requeue(file_id(fixture, rel));
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK(ranges_asked(fixture, rel).empty());
    CHECK(inode_of(final_name) == inode);
    check_converged(fixture, rel);
  }

  SECTION("committed: nothing to do") {
    const ino_t inode = inode_of(final_name);
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK(ranges_asked(fixture, rel).empty());
    CHECK(inode_of(final_name) == inode);
    check_converged(fixture, rel);
  }

  SECTION("committed, but a power cut undid the unsynced rename: the partial is published") {
    // Only possible if the directory fsync were skipped; the state is still handled.
    fs::rename(final_name, partial);
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK(ranges_asked(fixture, rel).empty());
    check_converged(fixture, rel);
  }
}
