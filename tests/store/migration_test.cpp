// SPDX-License-Identifier: MIT
// Schema versioning: a new file gets the latest schema, reopening changes nothing, a newer or
// foreign database is refused before any migration runs, each migration commits together with its
// user_version, and every database a released pnsync wrote (tests/fixtures/db-vN.sqlite) opens with
// this one.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <vector>

#include "store/migrations.hpp"
#include "store/sqlite.hpp"
#include "store/store.hpp"
#include "tests/store/store_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using pnsync::store::DiscoveredFile;
using pnsync::store::FileState;
using pnsync::store::latest_schema_version;
using pnsync::store::Migration;
using pnsync::store::Store;
using pnsync::store::StoreError;
using pnsync::store::VerifyKind;
using pnsync::store::test::DbSandbox;
using pnsync::store::test::RawDb;
using pnsync::store::test::sha;
namespace sqlite = pnsync::store::sqlite;

namespace {

// Everything that makes up the schema, in a stable order.
std::string schema_of(const std::filesystem::path& file) {
  return RawDb(file).text(
      "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master "
      "ORDER BY type, name",
      true);
}

}  // namespace

TEST_CASE("a new database gets the latest schema", "[store][migration]") {
  DbSandbox tmp;
  { Store store(tmp.db()); }
  RawDb raw(tmp.db());
  CHECK(raw.integer("PRAGMA user_version") == latest_schema_version());
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
  const std::string objects =
      raw.text("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name", true);
  CHECK(objects == "dir\nfile\nfile_by_state\nmirror");
}

TEST_CASE("reopening a database changes nothing", "[store][migration]") {
  DbSandbox tmp;
  {
    Store store(tmp.db());
    const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
    const std::vector<DiscoveredFile> files{{"RECORDS", 192, sha('a'), 1}};
    store.upsert_files(m, files);
  }
  const std::string schema = schema_of(tmp.db());
  for (int i = 0; i < 3; ++i) {
    Store store(tmp.db());
    CHECK(store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb") == 1);
    REQUIRE(store.find_file(1, "RECORDS"));
    CHECK(store.find_file(1, "RECORDS")->expected_sha256 == sha('a'));
    CHECK(store.counts(1).files_total == 1);
  }
  CHECK(schema_of(tmp.db()) == schema);
  CHECK(RawDb(tmp.db()).integer("PRAGMA user_version") == latest_schema_version());
}

TEST_CASE("a database written by a newer pnsync is refused untouched", "[store][migration]") {
  DbSandbox tmp;
  { Store store(tmp.db()); }
  const int newer = latest_schema_version() + 1;
  RawDb(tmp.db()).exec("PRAGMA user_version = " + std::to_string(newer));

  REQUIRE_THROWS_WITH(Store(tmp.db()),
                      Equals(tmp.db().string() + ": database written by a newer pnsync (schema " +
                             std::to_string(newer) + ", this build knows " +
                             std::to_string(latest_schema_version()) + ")"));
  CHECK(RawDb(tmp.db()).integer("PRAGMA user_version") == newer);
}

TEST_CASE("another program's database is refused, its tables left alone", "[store][migration]") {
  DbSandbox tmp;
  RawDb(tmp.db()).exec("CREATE TABLE notes (body TEXT)");
  REQUIRE_THROWS_WITH(Store(tmp.db()),
                      Equals(tmp.db().string() + ": not a pnsync database (it has tables but no "
                                                 "schema version); refusing to change it"));
  CHECK(schema_of(tmp.db()) == "table notes: CREATE TABLE notes (body TEXT)");
}

TEST_CASE("a file that is not a database is refused with its name", "[store][migration]") {
  DbSandbox tmp;
  std::ofstream(tmp.db()) << std::string(4096, 'x');
  REQUIRE_THROWS_WITH(Store(tmp.db()),
                      Contains(tmp.db().string() + ": ") && Contains("file is not a database"));
}

TEST_CASE("each migration commits together with its user_version", "[store][migration]") {
  DbSandbox tmp;
  // This build's migrations, then a good one and a broken one.
  const int latest = latest_schema_version();
  std::vector<Migration> list(pnsync::store::migrations().begin(),
                              pnsync::store::migrations().end());
  list.push_back({latest + 1, "add_etag", "ALTER TABLE file ADD COLUMN etag TEXT"});
  list.push_back(
      {latest + 2, "broken", "CREATE TABLE half_done (x); INSERT INTO missing VALUES (1)"});
  {
    sqlite::Database db(tmp.db());
    REQUIRE_THROWS_WITH(pnsync::store::migrate(db, list),
                        Equals(tmp.db().string() + ": migration " + std::to_string(latest + 2) +
                               " (broken): no such table: missing"));
    CHECK(pnsync::store::schema_version(db) == latest + 1);
  }
  RawDb raw(tmp.db());
  CHECK(raw.integer("SELECT count(*) FROM pragma_table_info('file') WHERE name = 'etag'") == 1);
  CHECK(raw.integer("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") == 0);

  CHECK_THROWS_WITH(Store(tmp.db()),
                    Contains("(schema " + std::to_string(latest + 1) + ", this build knows " +
                             std::to_string(latest) + ")"));
}

TEST_CASE("migrate() applies only what is missing", "[store][migration]") {
  DbSandbox tmp;
  sqlite::Database db(tmp.db());
  const Migration v1[] = {pnsync::store::migrations()[0]};
  const Migration v2[] = {v1[0], {2, "add_table", "CREATE TABLE extra (x)"}};
  pnsync::store::migrate(db, v1);
  CHECK(pnsync::store::schema_version(db) == 1);
  pnsync::store::migrate(db, v2);  // would fail on "table mirror already exists" if rerun
  CHECK(pnsync::store::schema_version(db) == 2);
  pnsync::store::migrate(db, v2);
  CHECK(pnsync::store::schema_version(db) == 2);
}

// tests/fixtures/db-v1.sqlite was written by scripts/make-db-fixture 1 (schema 1 as migration 1
// creates it, plus rows in every state). It is frozen: never regenerate it for a later schema.
TEST_CASE("a schema 1 database opens with its data intact", "[store][migration][fixture]") {
  DbSandbox tmp;
  std::filesystem::copy_file(PNSYNC_FIXTURES_DIR "/db-v1.sqlite", tmp.db());
  REQUIRE(RawDb(tmp.db()).integer("PRAGMA user_version") == 1);

  Store store(tmp.db());
  CHECK(store.integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
  CHECK(RawDb(tmp.db()).integer("PRAGMA user_version") == latest_schema_version());

  const auto mitdb = store.ensure_mirror("mitdb/1.0.0", "/srv/physionet/mitdb/1.0.0");
  const auto ptbxl = store.ensure_mirror("ptb-xl/1.0.3", "/srv/physionet/ptb-xl/1.0.3");
  CHECK(mitdb == 1);
  CHECK(ptbxl == 2);
  CHECK(store.crawl_completed_at(mitdb) == 1700000000);
  CHECK(store.crawl_completed_at(ptbxl) == std::nullopt);
  CHECK(store.pending_dirs(mitdb).empty());
  CHECK(store.pending_dirs(ptbxl) == std::vector<std::string>{"records100/", "records500/"});

  const auto records = store.find_file(mitdb, "RECORDS");
  REQUIRE(records);
  CHECK(records->id == 1);
  CHECK(records->state == FileState::Verified);
  CHECK(records->verified_by == VerifyKind::Sha256Manifest);
  CHECK(records->size == 192);
  CHECK(records->bytes_partial == 192);
  CHECK(records->expected_sha256 ==
        "408d2e9270273051bb20f7c0e344472910990595c15e26a82caf288208a8b5eb");
  CHECK(records->actual_sha256 == records->expected_sha256);
  CHECK(records->mtime == 1588000000);

  const auto partial = store.find_file(mitdb, "100.dat");
  REQUIRE(partial);
  CHECK(partial->state == FileState::Partial);
  CHECK(partial->bytes_partial == 524288);
  CHECK(partial->attempts == 1);
  CHECK(partial->last_error == "connection reset after 524288 bytes");

  const auto failed = store.find_file(mitdb, "101.dat");
  REQUIRE(failed);
  CHECK(failed->state == FileState::Failed);
  CHECK(failed->attempts == 5);
  CHECK(failed->checksum_mismatches == 2);
  CHECK(failed->last_error == "SHA-256 mismatch");
  CHECK(failed->mtime == std::nullopt);

  const auto unknown = store.find_file(mitdb, "x_mitdb/x_100.atr");
  REQUIRE(unknown);
  CHECK(unknown->state == FileState::Pending);
  CHECK(unknown->size == std::nullopt);
  CHECK(unknown->expected_sha256 == std::nullopt);

  const auto by_size = store.find_file(mitdb, "ANNOTATORS");
  REQUIRE(by_size);
  CHECK(by_size->verified_by == VerifyKind::Size);
  CHECK(by_size->expected_sha256 == std::nullopt);

  const auto c = store.counts(mitdb);
  CHECK(c.files_total == 5);
  CHECK(c.files_verified == 2);
  CHECK(c.files_failed == 1);
  CHECK(c.files_unknown_size == 1);
  CHECK(c.bytes_total == 192 + 1950000 + 1950000 + 1024);
  CHECK(c.bytes_verified == 192 + 1024);
  CHECK(store.counts(ptbxl).files_total == 1);
  CHECK(store.unfinished_files(ptbxl).at(0).path == "ptbxl_database.csv");

  // ...and the upgraded database keeps working.
  const std::vector<DiscoveredFile> more{{"102.dat", 1950000, std::nullopt, std::nullopt}};
  store.upsert_files(mitdb, more);
  CHECK(store.counts(mitdb).files_total == 6);
  const std::vector<pnsync::store::VerifiedFile> done{
      {partial->id, 1950000, *partial->expected_sha256, VerifyKind::Sha256Manifest}};
  store.mark_verified(done);
  CHECK(store.counts(mitdb).files_verified == 3);
}

// tests/fixtures/db-v2.sqlite was written by scripts/make-db-fixture 2 (migrations 1-2 and rows
// using the selected and selection columns). Frozen, like the others.
TEST_CASE("a schema 2 database opens with its selection intact", "[store][migration][fixture]") {
  DbSandbox tmp;
  std::filesystem::copy_file(PNSYNC_FIXTURES_DIR "/db-v2.sqlite", tmp.db());
  REQUIRE(RawDb(tmp.db()).integer("PRAGMA user_version") == 2);

  Store store(tmp.db());
  CHECK(RawDb(tmp.db()).integer("PRAGMA user_version") == latest_schema_version());
  const auto jpg = store.ensure_mirror("mimic-cxr-jpg/2.1.0", "/srv/physionet/mimic-cxr-jpg/2.1.0");
  CHECK(jpg == 1);
  CHECK(store.selection_fingerprint(jpg) ==
        "include=files/p10/;select=mimic-cxr-2.0.0-split.csv.gz:split=test");
  CHECK(store.pending_dirs(jpg) == std::vector<std::string>{"files/p10/"});
  // Selected: the split table (verified) and one image; outside the selection: one image kept
  // verified on disk, one never fetched.
  const auto c = store.counts(jpg);
  CHECK(c.files_total == 2);
  CHECK(c.files_verified == 1);
  CHECK(c.files_kept_unselected == 1);
  CHECK(c.bytes_total == 2401934 + 1083232);
  const auto unfinished = store.unfinished_files(jpg);
  REQUIRE(unfinished.size() == 1);
  CHECK(unfinished.at(0).path == "files/p10/p10000032/s50414267/02aa804e.jpg");
  // Columns added later start empty.
  const auto image = store.find_file(jpg, "files/p10/p10000032/s50414267/02aa804e.jpg");
  REQUIRE(image);
  CHECK_FALSE(image->segments);
  CHECK(store.dest_marker(jpg) == std::nullopt);
}

TEST_CASE("an upgraded database of every earlier schema has the schema of a new one",
          "[store][migration][fixture]") {
  const std::string fixture =
      GENERATE("db-v1.sqlite", "db-v2.sqlite", "db-v3.sqlite", "db-v4.sqlite");
  INFO(fixture);
  DbSandbox tmp;
  const auto upgraded = tmp.path() / "upgraded.db";
  const auto fresh = tmp.path() / "fresh.db";
  std::filesystem::copy_file(std::filesystem::path(PNSYNC_FIXTURES_DIR) / fixture, upgraded);
  { Store store(upgraded); }
  { Store store(fresh); }
  CHECK(schema_of(upgraded) == schema_of(fresh));
}

// tests/fixtures/db-v3.sqlite was written by scripts/make-db-fixture 3 (migrations 1-3 and rows
// using the selection and segments columns). Frozen, like db-v1.sqlite.
TEST_CASE("a schema 3 database opens with its data intact and gains the dest marker",
          "[store][migration][fixture]") {
  DbSandbox tmp;
  std::filesystem::copy_file(PNSYNC_FIXTURES_DIR "/db-v3.sqlite", tmp.db());
  REQUIRE(RawDb(tmp.db()).integer("PRAGMA user_version") == 3);

  Store store(tmp.db());
  CHECK(RawDb(tmp.db()).integer("PRAGMA user_version") == latest_schema_version());
  const auto cxr = store.ensure_mirror("mimic-cxr/2.0.0", "/srv/physionet/mimic-cxr/2.0.0");
  const auto iv = store.ensure_mirror("mimic-iv/3.1", "/srv/physionet/mimic-iv/3.1");
  CHECK(cxr == 1);
  CHECK(iv == 2);
  CHECK(store.selection_fingerprint(cxr) == "include=files/p10/");
  CHECK(store.pending_dirs(cxr) == std::vector<std::string>{"files/p11/"});

  const auto c = store.counts(cxr);
  CHECK(c.files_verified == 2);
  CHECK(c.files_kept_unselected == 1);
  const auto ranged = store.find_file(cxr, "files/p10/p10000032/s50414267/02aa804e.dcm");
  REQUIRE(ranged);
  CHECK(ranged->state == FileState::Partial);
  CHECK(ranged->segments == "0-4194304:4194304,4194304-8989446:4194304");
  CHECK(store.failed_files(iv).at(0).last_error == "SHA-256 mismatch");

  // Schema 4: no marker until a pass writes one; every verified path, kept ones too, is scanned.
  CHECK(store.dest_marker(cxr) == std::nullopt);
  store.set_dest_marker(cxr, "mirror-0123");
  CHECK(store.dest_marker(cxr) == "mirror-0123");
  CHECK(store.dest_marker(iv) == std::nullopt);
  std::vector<std::string> verified;
  store.scan_verified_paths(cxr, [&](std::string_view path) {
    verified.emplace_back(path);
    return true;
  });
  CHECK(verified == std::vector<std::string>{"SHA256SUMS.txt", "files/p10/p10000032/s50414267.txt",
                                             "files/p11/p11000011/s51029426.txt"});
  std::size_t visited = 0;
  store.scan_verified_paths(cxr, [&](std::string_view) { return ++visited < 2; });
  CHECK(visited == 2);
}

// tests/fixtures/db-v4.sqlite was written by scripts/make-db-fixture 4 (migrations 1-4 and rows
// using the dest marker). Frozen, like the others: the schema a later migration starts from.
TEST_CASE("a schema 4 database opens with its marker and files intact",
          "[store][migration][fixture]") {
  DbSandbox tmp;
  std::filesystem::copy_file(PNSYNC_FIXTURES_DIR "/db-v4.sqlite", tmp.db());
  REQUIRE(RawDb(tmp.db()).integer("PRAGMA user_version") == 4);

  Store store(tmp.db());
  CHECK(RawDb(tmp.db()).integer("PRAGMA user_version") == latest_schema_version());
  const auto jpg = store.ensure_mirror("mimic-cxr-jpg/2.1.0", "/srv/physionet/mimic-cxr-jpg/2.1.0");
  const auto ecg = store.ensure_mirror("mimic-iv-ecg/1.0", "/srv/physionet/mimic-iv-ecg/1.0");
  CHECK(jpg == 1);
  CHECK(ecg == 2);
  CHECK(store.dest_marker(jpg) == "mirror-1f2e3d4c5b6a79880123456789abcdef");
  CHECK(store.dest_marker(ecg) == std::nullopt);
  CHECK(store.crawl_completed_at(jpg) == 1765000000);
  CHECK(store.pending_dirs(ecg) == std::vector<std::string>{""});

  const auto c = store.counts(jpg);
  CHECK(c.files_total == 3);
  CHECK(c.files_verified == 2);
  CHECK(c.bytes_partial == 65536);
  const auto partial = store.find_file(jpg, "files/p10/p10000032/s50414267/174413ec.jpg");
  REQUIRE(partial);
  CHECK(partial->state == FileState::Partial);
  CHECK(partial->bytes_partial == 65536);
  CHECK(partial->last_error == "stalled after 65536 bytes");
  const auto image = store.find_file(jpg, "files/p10/p10000032/s50414267/02aa804e.jpg");
  REQUIRE(image);
  CHECK(image->verified_by == VerifyKind::Sha256Manifest);
  CHECK(store.unfinished_files(ecg).size() == 1);
}
