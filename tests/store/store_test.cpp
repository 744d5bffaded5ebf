// SPDX-License-Identifier: MIT
// Store behaviour other than upserts: mirrors, the crawl queue, per-file progress, the work
// lists, counts, and what survives closing the database.
#include "store/store.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "tests/store/store_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using pnsync::store::DiscoveredFile;
using pnsync::store::FileId;
using pnsync::store::FileRecord;
using pnsync::store::FileState;
using pnsync::store::MirrorId;
using pnsync::store::Store;
using pnsync::store::StoreError;
using pnsync::store::VerifiedFile;
using pnsync::store::VerifyKind;
using pnsync::store::test::DbSandbox;
using pnsync::store::test::discovered;
using pnsync::store::test::RawDb;
using pnsync::store::test::sha;
using Files = std::vector<DiscoveredFile>;
using Dirs = std::vector<std::string>;
using Verified = std::vector<VerifiedFile>;

namespace {

std::vector<std::string> paths(const std::vector<FileRecord>& files) {
  std::vector<std::string> out;
  out.reserve(files.size());
  for (const auto& f : files) out.push_back(f.path);
  return out;
}

// A store with one mirror and one pending file of 1000 bytes, hash 'a'.
struct OneFile {
  DbSandbox tmp;
  Store store{tmp.db()};
  MirrorId mirror = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  FileId id = [this] {
    store.upsert_files(mirror, Files{discovered("100.dat", 1000, sha('a'))});
    return store.find_file(mirror, "100.dat")->id;
  }();
  FileRecord get() { return store.find_file(mirror, "100.dat").value(); }
};

}  // namespace

TEST_CASE("to_string names every state as the database spells it", "[store]") {
  using pnsync::store::to_string;
  const auto [state, name] = GENERATE(table<FileState, std::string_view>({
      {FileState::Pending, "pending"},
      {FileState::Partial, "partial"},
      {FileState::Verified, "verified"},
      {FileState::Failed, "failed"},
  }));
  CHECK(to_string(state) == name);
  CHECK(to_string(VerifyKind::None) == "none");
  CHECK(to_string(VerifyKind::Sha256Manifest) == "sha256-manifest");
  CHECK(to_string(VerifyKind::Size) == "size");
}

TEST_CASE("ensure_mirror keys mirrors by name and follows a new dest", "[store]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto a = store.ensure_mirror("mitdb/1.0.0", "/srv/one");
  const auto b = store.ensure_mirror("ptb-xl/1.0.3", "/srv/two");
  CHECK(a != b);
  CHECK(store.ensure_mirror("mitdb/1.0.0", "/srv/moved") == a);
  CHECK(RawDb(tmp.db()).text("SELECT dest FROM mirror WHERE name = 'mitdb/1.0.0'") == "/srv/moved");
}

TEST_CASE("the crawl queue: pending, listed, reset", "[store][crawl]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  const auto other = store.ensure_mirror("ptb-xl/1.0.3", "/srv/ptbxl");

  CHECK(store.pending_dirs(m).empty());
  store.add_pending_dirs(m, Dirs{""});
  store.add_pending_dirs(other, Dirs{"", "records100/"});
  CHECK(store.pending_dirs(m) == Dirs{""});

  store.record_listing(m, "", Files{discovered("RECORDS", 10)}, Dirs{"x_mitdb/", "b/"}, 100);
  CHECK(store.pending_dirs(m) == Dirs{"b/", "x_mitdb/"});
  CHECK(store.find_file(m, "RECORDS"));

  // Known directories are left alone, listed or not.
  store.add_pending_dirs(m, Dirs{"", "b/", "c/"});
  CHECK(store.pending_dirs(m) == Dirs{"b/", "c/", "x_mitdb/"});

  store.record_listing(m, "b/", Files{}, Dirs{"x_mitdb/"}, 101);
  CHECK(store.pending_dirs(m) == Dirs{"c/", "x_mitdb/"});

  // A listing of a directory nobody queued still marks it listed.
  store.record_listing(m, "d/", Files{discovered("d/1.dat")}, Dirs{}, 102);
  CHECK(store.pending_dirs(m) == Dirs{"c/", "x_mitdb/"});
  CHECK(RawDb(tmp.db()).integer("SELECT listed_at FROM dir WHERE path = 'd/'") == 102);

  store.reset_crawl(m);
  CHECK(store.pending_dirs(m) == Dirs{"", "b/", "c/", "d/", "x_mitdb/"});
  CHECK(store.counts(m).files_total == 2);  // files stay
  CHECK(store.pending_dirs(other) == Dirs{"", "records100/"});
}

TEST_CASE("directory paths are \"\" or end in '/'", "[store][crawl]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  CHECK_THROWS_WITH(store.add_pending_dirs(m, Dirs{"a/", "b"}),
                    Contains("CHECK constraint failed: dir_path_is_root_or_ends_in_slash"));
  CHECK(store.pending_dirs(m).empty());  // "a/" was rolled back with "b"
}

TEST_CASE("record_listing is one transaction", "[store][crawl]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  store.add_pending_dirs(m, Dirs{"a/"});

  // The last subdirectory is malformed, so the listing fails after its files and first subdir
  // were written: none of it may remain, and "a/" must still be pending.
  CHECK_THROWS_AS(
      store.record_listing(m, "a/", Files{discovered("a/1.dat", 1), discovered("a/2.dat", 2)},
                           Dirs{"a/ok/", "a/bad"}, 100),
      StoreError);
  CHECK(store.pending_dirs(m) == Dirs{"a/"});
  CHECK_FALSE(store.find_file(m, "a/1.dat"));
  CHECK(store.counts(m).files_total == 0);

  store.record_listing(m, "a/", Files{discovered("a/1.dat", 1), discovered("a/2.dat", 2)},
                       Dirs{"a/ok/"}, 100);
  CHECK(store.pending_dirs(m) == Dirs{"a/ok/"});
  CHECK(store.counts(m).files_total == 2);
}

TEST_CASE("crawl completion is remembered per mirror", "[store][crawl]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  CHECK(store.crawl_completed_at(m) == std::nullopt);
  store.set_crawl_complete(m, 1700000000);
  CHECK(store.crawl_completed_at(m) == 1700000000);
  store.reset_crawl(m);  // a new crawl starts: it completes again when it is done
  CHECK(store.crawl_completed_at(m) == std::nullopt);
  store.set_crawl_complete(m, 1700000000);
  CHECK(store.crawl_completed_at(m + 1) == std::nullopt);
  CHECK_THROWS_WITH(store.set_crawl_complete(m + 1, 1),
                    Equals(tmp.db().string() + ": set_crawl_complete: no mirror with id " +
                           std::to_string(m + 1)));
}

TEST_CASE("mark_partial records resumable progress", "[store][file]") {
  OneFile t;
  t.store.mark_partial(t.id, 512);
  CHECK(t.get().state == FileState::Partial);
  CHECK(t.get().bytes_partial == 512);
}

TEST_CASE("record_attempt_error counts attempts and gives up on request", "[store][file]") {
  const auto [start, give_up, end] = GENERATE(table<FileState, bool, FileState>({
      {FileState::Pending, false, FileState::Pending},
      {FileState::Pending, true, FileState::Failed},
      {FileState::Partial, false, FileState::Partial},
      {FileState::Partial, true, FileState::Failed},
  }));
  OneFile t;
  if (start == FileState::Partial) t.store.mark_partial(t.id, 300);
  t.store.record_attempt_error(t.id, "HTTP 503", false);
  t.store.record_attempt_error(t.id, "connection reset", give_up);
  const auto f = t.get();
  CHECK(f.state == end);
  CHECK(f.attempts == 2);
  CHECK(f.checksum_mismatches == 0);
  CHECK(f.last_error == "connection reset");
  CHECK(f.bytes_partial == (start == FileState::Partial ? 300 : 0));  // kept for the resume
}

TEST_CASE("record_checksum_mismatch discards the bytes and gives up on request", "[store][file]") {
  const auto [give_up, end] = GENERATE(table<bool, FileState>({
      {false, FileState::Pending},
      {true, FileState::Failed},
  }));
  OneFile t;
  t.store.mark_partial(t.id, 1000);
  t.store.record_attempt_error(t.id, "timeout", false);
  t.store.record_checksum_mismatch(t.id, "SHA-256 mismatch", give_up);
  const auto f = t.get();
  CHECK(f.state == end);
  CHECK(f.bytes_partial == 0);
  CHECK(f.attempts == 2);
  CHECK(f.checksum_mismatches == 1);
  CHECK(f.last_error == "SHA-256 mismatch");
}

TEST_CASE("requeue clears the history", "[store][file]") {
  OneFile t;
  SECTION("of a failed file") {
    t.store.mark_partial(t.id, 200);
    t.store.record_checksum_mismatch(t.id, "SHA-256 mismatch", false);
    t.store.mark_partial(t.id, 300);
    t.store.record_attempt_error(t.id, "HTTP 404", true);
    REQUIRE(t.get().state == FileState::Failed);
    t.store.requeue(t.id);
    const auto f = t.get();
    CHECK(f.state == FileState::Pending);
    CHECK(f.attempts == 0);
    CHECK(f.checksum_mismatches == 0);
    CHECK(f.last_error.empty());
    CHECK(f.bytes_partial == 300);  // the .part file is still there to resume
  }
  SECTION("of a verified file found damaged on disk") {
    t.store.mark_verified(Verified{{t.id, 1000, sha('a'), VerifyKind::Sha256Manifest}});
    t.store.requeue(t.id);
    const auto f = t.get();
    CHECK(f.state == FileState::Pending);
    CHECK(f.verified_by == VerifyKind::None);
    CHECK(f.actual_sha256 == std::nullopt);
    CHECK(f.bytes_partial == 0);
    CHECK(f.expected_sha256 == sha('a'));  // what upstream says is unchanged
  }
}

TEST_CASE("mark_verified records the check and clears the error", "[store][file]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  store.upsert_files(m, Files{discovered("a", 1, sha('a')), discovered("b"), discovered("c", 3)});
  const auto a = store.find_file(m, "a")->id;
  const auto b = store.find_file(m, "b")->id;
  const auto c = store.find_file(m, "c")->id;
  store.record_attempt_error(a, "timeout", false);

  store.mark_verified(
      Verified{{a, 1, sha('a'), VerifyKind::Sha256Manifest}, {b, 2, sha('b'), VerifyKind::Size}});
  const auto fa = store.find_file(m, "a").value();
  CHECK(fa.state == FileState::Verified);
  CHECK(fa.verified_by == VerifyKind::Sha256Manifest);
  CHECK(fa.actual_sha256 == sha('a'));
  CHECK(fa.bytes_partial == 1);
  CHECK(fa.last_error.empty());
  CHECK(fa.attempts == 1);  // history is kept
  const auto fb = store.find_file(m, "b").value();
  CHECK(fb.verified_by == VerifyKind::Size);
  CHECK(fb.size == 2);  // learnt from the download
  CHECK(fb.bytes_partial == 2);
  CHECK(fb.actual_sha256 == sha('b'));

  SECTION("a batch with a bad entry changes nothing") {
    // A checksum claim needs the manifest hash to match; "c" has none.
    CHECK_THROWS_WITH(store.mark_verified(Verified{{a, 1, sha('a'), VerifyKind::Size},
                                                   {c, 3, sha('c'), VerifyKind::Sha256Manifest}}),
                      Contains("CHECK constraint failed: file_checksum_claim_holds"));
    CHECK(store.find_file(m, "a")->verified_by == VerifyKind::Sha256Manifest);
    CHECK(store.find_file(m, "c")->state == FileState::Pending);
  }
  SECTION("verified without saying how") {
    CHECK_THROWS_WITH(store.mark_verified(Verified{{c, 3, sha('c'), VerifyKind::None}}),
                      Contains("CHECK constraint failed: file_verified_has_kind"));
  }
  SECTION("a wrong hash is never reported as a checksum match") {
    CHECK_THROWS_WITH(store.mark_verified(Verified{{a, 1, sha('f'), VerifyKind::Sha256Manifest}}),
                      Contains("CHECK constraint failed: file_checksum_claim_holds"));
  }
}

TEST_CASE("forget_file removes one file, and a later listing brings it back new", "[store][file]") {
  OneFile t;
  t.store.upsert_files(t.mirror, Files{discovered("other.dat", 5)});
  t.store.record_attempt_error(t.id, "is a directory", false);
  t.store.forget_file(t.id);
  CHECK_FALSE(t.store.find_file(t.mirror, "100.dat"));
  CHECK(t.store.counts(t.mirror).files_total == 1);
  CHECK_THROWS_WITH(
      t.store.forget_file(t.id),
      Equals(t.tmp.db().string() + ": forget_file: no file with id " + std::to_string(t.id)));

  t.store.upsert_files(t.mirror, Files{discovered("100.dat", 1000)});
  const auto again = t.get();
  CHECK(again.attempts == 0);
  CHECK(again.last_error.empty());
}

TEST_CASE("per-file updates refuse an unknown id", "[store][file]") {
  OneFile t;
  const FileId bad = t.id + 100;
  const std::string file = t.tmp.db().string();
  const std::string suffix = ": no file with id " + std::to_string(bad);
  CHECK_THROWS_WITH(t.store.mark_partial(bad, 1), Equals(file + ": mark_partial" + suffix));
  CHECK_THROWS_WITH(t.store.record_attempt_error(bad, "x", false),
                    Equals(file + ": record_attempt_error" + suffix));
  CHECK_THROWS_WITH(t.store.record_checksum_mismatch(bad, "x", false),
                    Equals(file + ": record_checksum_mismatch" + suffix));
  CHECK_THROWS_WITH(t.store.requeue(bad), Equals(file + ": requeue" + suffix));
  CHECK_THROWS_WITH(t.store.mark_verified(Verified{{t.id, 1000, sha('a'), VerifyKind::Size},
                                                   {bad, 1, sha('a'), VerifyKind::Size}}),
                    Equals(file + ": mark_verified" + suffix));
  CHECK(t.get().state == FileState::Pending);  // the batch was rolled back
}

TEST_CASE("work lists are per mirror and sorted by path", "[store][file]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  const auto other = store.ensure_mirror("ptb-xl/1.0.3", "/srv/ptbxl");
  store.upsert_files(m, Files{discovered("e"), discovered("d", 4), discovered("c", 3),
                              discovered("b", 2), discovered("a", 1)});
  store.upsert_files(other, Files{discovered("a"), discovered("z")});
  store.mark_partial(store.find_file(m, "b")->id, 1);
  store.record_attempt_error(store.find_file(m, "c")->id, "HTTP 404", true);
  store.record_attempt_error(store.find_file(m, "e")->id, "HTTP 404", true);
  store.mark_verified(Verified{{store.find_file(m, "d")->id, 4, sha('d'), VerifyKind::Size},
                               {store.find_file(m, "a")->id, 1, sha('a'), VerifyKind::Size}});

  CHECK(paths(store.unfinished_files(m)) == Dirs{"b", "c", "e"});
  CHECK(paths(store.failed_files(m)) == Dirs{"c", "e"});
  CHECK(paths(store.verified_files(m)) == Dirs{"a", "d"});
  CHECK(paths(store.unfinished_files(other)) == Dirs{"a", "z"});
  CHECK(store.failed_files(other).empty());
  CHECK(store.verified_files(other).empty());
}

TEST_CASE("scan_verified_files streams the verified files by path and stops when told",
          "[store][file]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  const auto other = store.ensure_mirror("ptb-xl/1.0.3", "/srv/ptbxl");
  store.upsert_files(m, Files{discovered("c", 3), discovered("b", 2), discovered("a", 1),
                              discovered("pending", 9)});
  store.upsert_files(other, Files{discovered("x", 5)});
  Verified verified;
  for (const char* path : {"c", "a", "b"}) {
    const FileRecord file = store.find_file(m, path).value();
    verified.push_back({file.id, file.size.value_or(0), sha(path[0]), VerifyKind::Size});
  }
  verified.push_back({store.find_file(other, "x")->id, 5, sha('x'), VerifyKind::Size});
  store.mark_verified(verified);

  std::vector<FileRecord> seen;
  store.scan_verified_files(m, [&](const FileRecord& file) {
    seen.push_back(file);
    return true;
  });
  CHECK(paths(seen) == Dirs{"a", "b", "c"});
  CHECK(paths(seen) == paths(store.verified_files(m)));
  CHECK(seen.at(1).actual_sha256 == sha('b'));

  std::size_t visited = 0;
  store.scan_verified_files(m, [&](const FileRecord&) { return ++visited < 2; });
  CHECK(visited == 2);
}

TEST_CASE("counts sums files and bytes by state", "[store]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  const auto other = store.ensure_mirror("ptb-xl/1.0.3", "/srv/ptbxl");
  CHECK(store.counts(m).files_total == 0);
  CHECK(store.counts(m).bytes_total == 0);

  store.upsert_files(m, Files{discovered("v1", 100), discovered("v2", 20), discovered("f", 3),
                              discovered("p", 4000), discovered("u1"), discovered("u2")});
  store.upsert_files(other, Files{discovered("x", 999999)});
  store.mark_verified(Verified{{store.find_file(m, "v1")->id, 100, sha('1'), VerifyKind::Size},
                               {store.find_file(m, "v2")->id, 20, sha('2'), VerifyKind::Size}});
  store.record_attempt_error(store.find_file(m, "f")->id, "HTTP 403", true);
  store.mark_partial(store.find_file(m, "p")->id, 10);

  const auto c = store.counts(m);
  CHECK(c.files_total == 6);
  CHECK(c.files_verified == 2);
  CHECK(c.files_failed == 1);
  CHECK(c.files_unknown_size == 2);
  CHECK(c.bytes_total == 100 + 20 + 3 + 4000);
  CHECK(c.bytes_verified == 120);
}

TEST_CASE("committed data survives closing and reopening", "[store][durability]") {
  DbSandbox tmp;
  MirrorId m = 0;
  FileId id = 0;
  {
    Store store(tmp.db());
    m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
    store.record_listing(m, "", Files{discovered("RECORDS", 192, sha('a'), 7)}, Dirs{"x/"}, 100);
    id = store.find_file(m, "RECORDS")->id;
    store.mark_verified(Verified{{id, 192, sha('a'), VerifyKind::Sha256Manifest}});
    store.set_crawl_complete(m, 200);
  }
  Store store(tmp.db());
  CHECK(store.integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
  CHECK(store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb") == m);
  CHECK(store.pending_dirs(m) == Dirs{"x/"});
  CHECK(store.crawl_completed_at(m) == 200);
  const auto f = store.find_file(m, "RECORDS");
  REQUIRE(f);
  CHECK(f->id == id);
  CHECK(f->state == FileState::Verified);
  CHECK(f->verified_by == VerifyKind::Sha256Manifest);
  CHECK(f->mtime == 7);
}

TEST_CASE("a moved Store keeps working", "[store]") {
  DbSandbox tmp;
  Store first(tmp.db());
  const auto m = first.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  Store second(std::move(first));
  second.upsert_files(m, Files{discovered("a")});
  Store third(tmp.path() / "other.db");
  third = std::move(second);
  CHECK(third.counts(m).files_total == 1);
}

TEST_CASE("integrity_problem reports a damaged database", "[store]") {
  DbSandbox tmp;
  {
    Store store(tmp.db());
    CHECK(store.integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
    const auto m = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
    store.upsert_files(m, Files{discovered("a", 1), discovered("b", 2)});
  }
  // Redefine an index behind SQLite's back, so that its stored entries no longer match the rows.
  {
    RawDb raw(tmp.db());
    raw.exec("PRAGMA writable_schema = ON");
    raw.exec(
        "UPDATE sqlite_master SET sql = 'CREATE INDEX file_by_state ON file (mirror_id)' "
        "WHERE name = 'file_by_state'");
  }
  Store store(tmp.db());
  CHECK_FALSE(store.integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
}

TEST_CASE("files outside the selection leave the work lists and the counts", "[store][selection]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const MirrorId m = store.ensure_mirror("mimic-cxr/2.0.0", "/data/cxr");
  store.upsert_files(m,
                     Files{discovered("files/p10/a.dcm", 100), discovered("files/p11/b.dcm", 200),
                           discovered("files/p10/c.txt", 3)});
  const auto c = store.find_file(m, "files/p10/c.txt");
  REQUIRE(c);
  store.mark_verified(Verified{{c->id, 3, sha('c'), VerifyKind::Size}});

  store.apply_selection(m, [](std::string_view path) { return path.starts_with("files/p10/"); });
  CHECK_THAT(paths(store.unfinished_files(m)), Equals(Dirs{"files/p10/a.dcm"}));
  auto counts = store.counts(m);
  CHECK(counts.files_total == 2);
  CHECK(counts.bytes_total == 103);
  CHECK(counts.files_kept_unselected == 0);

  // Narrowed: the verified report is kept on disk but no longer counted.
  store.apply_selection(m, [](std::string_view path) { return path.ends_with(".dcm"); });
  CHECK_THAT(paths(store.unfinished_files(m)), Equals(Dirs{"files/p10/a.dcm", "files/p11/b.dcm"}));
  CHECK(store.verified_files(m).empty());
  CHECK_THAT(paths(store.unselected_verified_files(m)), Equals(Dirs{"files/p10/c.txt"}));
  counts = store.counts(m);
  CHECK(counts.files_total == 2);
  CHECK(counts.files_verified == 0);
  CHECK(counts.files_kept_unselected == 1);

  store.mark_unselected(m, Dirs{"files/p11/b.dcm"});
  CHECK_THAT(paths(store.unfinished_files(m)), Equals(Dirs{"files/p10/a.dcm"}));

  CHECK(store.selection_fingerprint(m).empty());
  store.set_selection_fingerprint(m, "include=files/p10/**");
  CHECK(store.selection_fingerprint(m) == "include=files/p10/**");
}

TEST_CASE("failed files come a page at a time, by path, after a cursor", "[store]") {
  DbSandbox tmp;
  Store store{tmp.db()};
  const MirrorId mirror = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  const MirrorId other = store.ensure_mirror("ptbdb/1.0.0", "/srv/ptbdb");
  Files files;
  for (const char* path : {"e", "a", "d", "b", "c", "f"}) files.push_back(discovered(path, 1));
  store.upsert_files(mirror, files);
  store.upsert_files(other, files);
  for (const char* path : {"e", "a", "d", "b"}) {
    store.record_attempt_error(store.find_file(mirror, path)->id, "HTTP 404", true);
  }
  store.record_attempt_error(store.find_file(other, "c")->id, "HTTP 404", true);
  store.record_attempt_error(store.find_file(mirror, "f")->id, "reset", false);  // not given up

  CHECK_THAT(paths(store.failed_files_page(mirror, "", 3)), Equals(Dirs{"a", "b", "d"}));
  // A default string_view (no data pointer) is the first page too, not a NULL that matches none.
  CHECK_THAT(paths(store.failed_files_page(mirror, std::string_view(), 3)),
             Equals(Dirs{"a", "b", "d"}));
  CHECK_THAT(paths(store.failed_files_page(mirror, "b", 3)), Equals(Dirs{"d", "e"}));
  CHECK(store.failed_files_page(mirror, "e", 3).empty());
  CHECK(store.failed_files_page(mirror, "", 0).empty());
  // A cursor between two paths, as after the file it named recovered.
  CHECK_THAT(paths(store.failed_files_page(mirror, "c", 10)), Equals(Dirs{"d", "e"}));
  CHECK_THAT(paths(store.failed_files_page(other, "", 10)), Equals(Dirs{"c"}));
  CHECK(store.failed_files_page(mirror, "", 10).front().last_error == "HTTP 404");
}

TEST_CASE("to_fetch sums what is left of the unfinished files and names the first few", "[store]") {
  DbSandbox tmp;
  Store store{tmp.db()};
  const MirrorId mirror = store.ensure_mirror("mitdb/1.0.0", "/srv/mitdb");
  store.upsert_files(mirror, Files{discovered("c", 100), discovered("a", 1000), discovered("b"),
                                   discovered("d", 50), discovered("e", 10)});
  store.mark_partial(store.find_file(mirror, "a")->id, 400);
  store.mark_verified(Verified{{store.find_file(mirror, "d")->id, 50, sha('d'), VerifyKind::Size}});
  store.mark_unselected(mirror, Dirs{"e"});

  const Store::ToFetch left = store.to_fetch(mirror, 2);
  CHECK(left.files == 3);          // a, b, c: d is verified, e not selected
  CHECK(left.bytes == 600 + 100);  // a less its partial bytes, c; b's size is unknown
  CHECK_THAT(left.sample, Equals(Dirs{"a", "b"}));
  CHECK(store.to_fetch(mirror, 0).sample.empty());
}
