// SPDX-License-Identifier: MIT
// upsert_files: a listing or a manifest only adds to what we know, and a verified file whose
// upstream size or hash changed is fetched again.
#include <catch2/catch.hpp>
#include <vector>

#include "store/store.hpp"
#include "tests/store/store_helpers.hpp"

using pnsync::store::DiscoveredFile;
using pnsync::store::FileId;
using pnsync::store::FileState;
using pnsync::store::MirrorId;
using pnsync::store::Store;
using pnsync::store::StoreError;
using pnsync::store::VerifiedFile;
using pnsync::store::VerifyKind;
using pnsync::store::test::DbSandbox;
using pnsync::store::test::discovered;
using pnsync::store::test::sha;
using Files = std::vector<DiscoveredFile>;

namespace {

// How far the file got before the new listing arrives.
enum class Progress { Pending, Partial, Failed, VerifiedByManifest, VerifiedBySize };

struct UpsertCase {
  const char* rule;
  // Stored: what an earlier listing said, then the progress.
  std::optional<std::int64_t> size_before;
  std::optional<std::string> sha_before;
  Progress progress;
  // The new listing.
  std::optional<std::int64_t> size_listed;
  std::optional<std::string> sha_listed;
  // Stored afterwards.
  std::optional<std::int64_t> size_after;
  std::optional<std::string> sha_after;
  FileState state_after;
  VerifyKind verified_by_after;
};

// A file verified by size was downloaded with this hash.
const std::string kDownloadedSha = sha('a');

FileId store_with_progress(Store& store, MirrorId mirror, const UpsertCase& c) {
  store.upsert_files(mirror, Files{discovered("f.dat", c.size_before, c.sha_before)});
  const FileId id = store.find_file(mirror, "f.dat")->id;
  const std::int64_t size = c.size_before.value_or(10);
  switch (c.progress) {
    case Progress::Pending:
      break;
    case Progress::Partial:
      store.mark_partial(id, 4);
      break;
    case Progress::Failed:
      store.record_attempt_error(id, "HTTP 503", true);
      break;
    case Progress::VerifiedByManifest:
      store.mark_verified(
          std::vector<VerifiedFile>{{id, size, c.sha_before.value(), VerifyKind::Sha256Manifest}});
      break;
    case Progress::VerifiedBySize:
      store.mark_verified(std::vector<VerifiedFile>{{id, size, kDownloadedSha, VerifyKind::Size}});
      break;
  }
  return id;
}

}  // namespace

TEST_CASE("upsert_files merges a listing into what is known", "[store][upsert]") {
  const auto A = sha('a');
  const auto B = sha('b');
  constexpr auto none = std::nullopt;
  using enum Progress;
  using S = FileState;
  using V = VerifyKind;
  const auto c = GENERATE_COPY(values<UpsertCase>({
      // clang-format off
      // stored: size, hash, progress;  listed: size, hash;  then: size, hash, state, verified_by
      {"an absent size keeps the known size",
       10,   none, Pending,              none, A,      10,   A,    S::Pending,  V::None},
      {"an absent hash keeps the manifest hash",
       none, A,    Pending,              10,   none,   10,   A,    S::Pending,  V::None},
      {"a new size on a pending file is recorded",
       10,   none, Pending,              11,   none,   11,   none, S::Pending,  V::None},
      {"a new hash on a pending file is recorded",
       10,   A,    Pending,              none, B,      10,   B,    S::Pending,  V::None},
      {"the same size and hash keep a file verified",
       10,   A,    VerifiedByManifest,   10,   A,      10,   A,    S::Verified, V::Sha256Manifest},
      {"absent fields keep a file verified",
       10,   A,    VerifiedByManifest,   none, none,   10,   A,    S::Verified, V::Sha256Manifest},
      {"a new size sends a verified file back to pending",
       10,   A,    VerifiedByManifest,   11,   none,   11,   A,    S::Pending,  V::None},
      {"a new hash sends a verified file back to pending",
       10,   A,    VerifiedByManifest,   none, B,      10,   B,    S::Pending,  V::None},
      {"a new size sends a size-verified file back to pending",
       10,   none, VerifiedBySize,       12,   none,   12,   none, S::Pending,  V::None},
      {"a manifest hash matching the download upgrades a size check to a checksum",
       10,   none, VerifiedBySize,       none, A,      10,   A,    S::Verified, V::Sha256Manifest},
      {"a manifest hash contradicting the download sends a size-verified file back",
       10,   none, VerifiedBySize,       10,   B,      10,   B,    S::Pending,  V::None},
      {"a partial file keeps its state when upstream changes",
       10,   A,    Partial,              11,   B,      11,   B,    S::Partial,  V::None},
      {"a failed file stays failed when upstream changes",
       10,   A,    Failed,               11,   none,   11,   A,    S::Failed,   V::None},
      // clang-format on
  }));

  INFO(c.rule);
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  const FileId id = store_with_progress(store, m, c);

  store.upsert_files(m, Files{discovered("f.dat", c.size_listed, c.sha_listed)});

  const auto f = store.find_file(m, "f.dat");
  REQUIRE(f);
  CHECK(f->id == id);
  CHECK(f->size == c.size_after);
  CHECK(f->expected_sha256 == c.sha_after);
  CHECK(f->state == c.state_after);
  CHECK(f->verified_by == c.verified_by_after);
  if (c.state_after == FileState::Verified) {
    CHECK(f->actual_sha256.has_value());
    CHECK(f->bytes_partial == f->size);
  }
  if (c.state_after == FileState::Pending) {
    CHECK(f->actual_sha256 == std::nullopt);
    CHECK(f->bytes_partial == 0);
  }
}

TEST_CASE("a new file is stored pending with what the listing knows", "[store][upsert]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  store.upsert_files(
      m, Files{discovered("a/full.dat", 100, sha('c'), 1588000000), discovered("a/bare.dat")});

  const auto full = store.find_file(m, "a/full.dat");
  REQUIRE(full);
  CHECK(full->path == "a/full.dat");
  CHECK(full->size == 100);
  CHECK(full->expected_sha256 == sha('c'));
  CHECK(full->actual_sha256 == std::nullopt);
  CHECK(full->mtime == 1588000000);
  CHECK(full->state == FileState::Pending);
  CHECK(full->verified_by == VerifyKind::None);
  CHECK(full->bytes_partial == 0);
  CHECK(full->attempts == 0);
  CHECK(full->checksum_mismatches == 0);
  CHECK(full->last_error.empty());

  const auto bare = store.find_file(m, "a/bare.dat");
  REQUIRE(bare);
  CHECK(bare->size == std::nullopt);
  CHECK(bare->expected_sha256 == std::nullopt);
  CHECK(bare->mtime == std::nullopt);
  CHECK(bare->id != full->id);

  CHECK_FALSE(store.find_file(m, "a/missing.dat"));
}

TEST_CASE("a listed mtime replaces the stored one and an absent one keeps it", "[store][upsert]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  store.upsert_files(m, Files{discovered("f", 1, std::nullopt, 100)});
  store.upsert_files(m, Files{discovered("f", 1, std::nullopt, std::nullopt)});
  CHECK(store.find_file(m, "f")->mtime == 100);
  store.upsert_files(m, Files{discovered("f", 1, std::nullopt, 200)});
  CHECK(store.find_file(m, "f")->mtime == 200);
  // A new mtime alone is not "upstream changed": listings round it to the minute.
  CHECK(store.find_file(m, "f")->state == FileState::Pending);
}

TEST_CASE("a mtime change alone keeps a file verified", "[store][upsert]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  store.upsert_files(m, Files{discovered("f", 5, sha('a'), 100)});
  const auto id = store.find_file(m, "f")->id;
  store.mark_verified(std::vector<VerifiedFile>{{id, 5, sha('a'), VerifyKind::Sha256Manifest}});
  store.upsert_files(m, Files{discovered("f", 5, sha('a'), 160)});
  CHECK(store.find_file(m, "f")->state == FileState::Verified);
}

TEST_CASE("the same path in two mirrors is two files", "[store][upsert]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto a = store.ensure_mirror("mitdb/1.0.0", "/srv/a");
  const auto b = store.ensure_mirror("mitdb/1.0.1", "/srv/b");
  store.upsert_files(a, Files{discovered("RECORDS", 1)});
  store.upsert_files(b, Files{discovered("RECORDS", 2)});
  CHECK(store.find_file(a, "RECORDS")->size == 1);
  CHECK(store.find_file(b, "RECORDS")->size == 2);
  CHECK(store.find_file(a, "RECORDS")->id != store.find_file(b, "RECORDS")->id);
}

TEST_CASE("upsert_files is all or nothing", "[store][upsert]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");

  SECTION("a bad entry in the batch") {
    // A path ending in '/' is a directory; the schema refuses it as a file.
    CHECK_THROWS_WITH(
        store.upsert_files(m, Files{discovered("ok-1"), discovered("sub/"), discovered("ok-2")}),
        Catch::Matchers::Contains("CHECK constraint failed: file_path_is_a_file"));
  }
  SECTION("a negative size") {
    CHECK_THROWS_AS(store.upsert_files(m, Files{discovered("ok-1"), discovered("neg", -1)}),
                    StoreError);
  }
  SECTION("an unknown mirror") {
    CHECK_THROWS_WITH(store.upsert_files(m + 1, Files{discovered("ok-1")}),
                      Catch::Matchers::Contains("FOREIGN KEY constraint failed"));
  }
  CHECK(store.counts(m).files_total == 0);
  CHECK_FALSE(store.find_file(m, "ok-1"));
  // The Store is still usable afterwards.
  store.upsert_files(m, Files{discovered("ok-1")});
  CHECK(store.counts(m).files_total == 1);
}
