// SPDX-License-Identifier: MIT
#include "store/store.hpp"

#include <string>
#include <utility>

#include "store/migrations.hpp"
#include "store/sqlite.hpp"

namespace pnsync::store {

std::string_view to_string(FileState state) {
  switch (state) {
    case FileState::Pending:
      return "pending";
    case FileState::Partial:
      return "partial";
    case FileState::Verified:
      return "verified";
    case FileState::Failed:
      return "failed";
  }
  return "?";
}

std::string_view to_string(VerifyKind kind) {
  switch (kind) {
    case VerifyKind::None:
      return "none";
    case VerifyKind::Sha256Manifest:
      return "sha256-manifest";
    case VerifyKind::Size:
      return "size";
  }
  return "?";
}

namespace {

// The first column of the first row, "" if none.
std::string single_text(sqlite::Database& db, std::string_view sql) {
  sqlite::Statement stmt(db, sql);
  auto use = stmt.use();
  return use.step() ? use.text(0) : "";
}

// Connection settings, applied on every open (only journal_mode is remembered by the file).
void configure(sqlite::Database& db) {
  // First, so that the journal_mode switch below already waits: another connection (pnsyncctl, a
  // backup, a second Store) holding a lock makes us wait up to 10 s instead of failing with BUSY.
  db.exec("PRAGMA busy_timeout = 10000");

  // WAL: readers and the writer don't block each other, and a commit appends to the -wal file
  // instead of rewriting a rollback journal, which keeps 100k-row batches fast.
  // (An in-memory database, ":memory:", answers "memory"; that is fine for tests.)
  if (const std::string mode = single_text(db, "PRAGMA journal_mode = WAL");
      mode != "wal" && mode != "memory") {
    throw StoreError(db.file() + ": cannot switch to WAL journal mode (got \"" + mode + "\")");
  }

  // With WAL, NORMAL syncs only at checkpoints: a commit is durable against a crash of the process
  // (kill -9, OOM), and a power loss can roll back the last commits but never corrupts the file.
  // Losing those is safe here, since their work (a listing, a verification) is simply redone.
  db.exec("PRAGMA synchronous = NORMAL");

  // Once checkpointed, cut the -wal file back to 64 MiB: one 600,000-file batch grows it to about
  // 130 MiB, and a long-running daemon would otherwise keep that much disk for good.
  db.exec("PRAGMA journal_size_limit = 67108864");

  // Off by default in every connection (for compatibility); we rely on ON DELETE CASCADE and on
  // every dir and file pointing at a real mirror.
  db.exec("PRAGMA foreign_keys = ON");
}

sqlite::Database open_database(const std::filesystem::path& file) {
  sqlite::Database db(file);
  configure(db);
  migrate(db);
  return db;
}

// Replaces every "{name}" in `sql` by `value`: lets one SQL condition be written once and used in
// several CASE arms.
std::string expand(std::string sql, std::string_view name, std::string_view value) {
  std::string key;  // not "{" + name + "}": GCC 12 warns about that (-Wrestrict, GCC PR 105329)
  key.append("{").append(name).append("}");
  for (auto at = sql.find(key); at != std::string::npos; at = sql.find(key, at + value.size())) {
    sql.replace(at, key.size(), value);
  }
  return sql;
}

std::string upsert_file_sql() {
  // The stored row is verified and this listing contradicts a size or hash we knew: upstream
  // changed, so the local copy is stale. `x <> NULL` is NULL, which CASE treats as false, so an
  // absent value on either side is never a change. A new hash is compared with the manifest hash
  // we knew or, for a file verified by size alone, with the hash of the bytes we wrote.
  constexpr std::string_view kUpstreamChanged =
      "(state = 'verified' AND (excluded.size <> size OR "
      "excluded.expected_sha256 <> coalesce(expected_sha256, actual_sha256)))";
  // In DO UPDATE, bare column names are the stored row (before any assignment) and `excluded` is
  // the row we tried to insert.
  return expand(R"sql(
    INSERT INTO file (mirror_id, path, size, expected_sha256, mtime) VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (mirror_id, path) DO UPDATE SET
      size = coalesce(excluded.size, size),
      expected_sha256 = coalesce(excluded.expected_sha256, expected_sha256),
      mtime = coalesce(excluded.mtime, mtime),
      state = CASE WHEN {changed} THEN 'pending' ELSE state END,
      actual_sha256 = CASE WHEN {changed} THEN NULL ELSE actual_sha256 END,
      bytes_done = CASE WHEN {changed} THEN 0 ELSE bytes_done END,
      segments = CASE WHEN {changed} THEN NULL ELSE segments END,
      verified_by = CASE
        WHEN {changed} THEN 'none'
        -- The manifest now lists exactly the hash of the bytes we wrote: a size-only check
        -- has become a checksum check.
        WHEN state = 'verified' AND verified_by = 'size'
             AND excluded.expected_sha256 = actual_sha256 THEN 'sha256-manifest'
        ELSE verified_by
      END
    -- Skip rows where the listing tells us nothing new: a re-crawl of an unchanged dataset then
    -- only reads, instead of rewriting every page of the table.
    WHERE (excluded.size IS NOT NULL AND excluded.size IS NOT size)
       OR (excluded.expected_sha256 IS NOT NULL AND excluded.expected_sha256 IS NOT expected_sha256)
       OR (excluded.mtime IS NOT NULL AND excluded.mtime IS NOT mtime)
  )sql",
                "changed", kUpstreamChanged);
}

constexpr std::string_view kFileColumns =
    "id, path, size, expected_sha256, actual_sha256, state, bytes_done, attempts, "
    "checksum_mismatches, last_error, verified_by, mtime, segments";

std::string select_files_where(std::string_view condition) {
  return "SELECT " + std::string(kFileColumns) + " FROM file WHERE " + std::string(condition);
}

// Every statement, prepared once when the Store opens (after the migrations, so the tables exist).
struct Statements {
  explicit Statements(sqlite::Database& db)
      : ensure_mirror(db,
                      "INSERT INTO mirror (name, dest) VALUES (?1, ?2) "
                      "ON CONFLICT (name) DO UPDATE SET dest = excluded.dest RETURNING id"),
        find_mirror(db, "SELECT id FROM mirror WHERE name = ?1"),
        add_dir(db,
                "INSERT INTO dir (mirror_id, path, listed_at) VALUES (?1, ?2, NULL) "
                // Not INSERT OR IGNORE, which would also swallow CHECK and NOT NULL failures.
                "ON CONFLICT (mirror_id, path) DO NOTHING"),
        mark_dir_listed(
            db,
            "INSERT INTO dir (mirror_id, path, listed_at) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (mirror_id, path) DO UPDATE SET listed_at = excluded.listed_at"),
        pending_dirs(db,
                     "SELECT path FROM dir WHERE mirror_id = ?1 AND listed_at IS NULL "
                     "ORDER BY path"),
        reset_crawl(db, "UPDATE dir SET listed_at = NULL WHERE mirror_id = ?1"),
        clear_crawl_complete(db, "UPDATE mirror SET crawl_completed_at = NULL WHERE id = ?1"),
        set_crawl_complete(db, "UPDATE mirror SET crawl_completed_at = ?2 WHERE id = ?1"),
        crawl_completed_at(db, "SELECT crawl_completed_at FROM mirror WHERE id = ?1"),
        upsert_file(db, upsert_file_sql()),
        find_file(db, select_files_where("mirror_id = ?1 AND path = ?2")),
        unfinished_files(db,
                         select_files_where(
                             "mirror_id = ?1 AND state <> 'verified' AND selected ORDER BY path")),
        failed_files(db, select_files_where(
                             "mirror_id = ?1 AND state = 'failed' AND selected ORDER BY path")),
        failed_files_page(
            db, select_files_where("mirror_id = ?1 AND state = 'failed' AND selected AND path > ?2 "
                                   "ORDER BY path LIMIT ?3")),
        verified_files(db, select_files_where(
                               "mirror_id = ?1 AND state = 'verified' AND selected ORDER BY path")),
        unselected_verified_files(
            db, select_files_where(
                    "mirror_id = ?1 AND state = 'verified' AND NOT selected ORDER BY path")),
        unfinished_listed_in(
            db, select_files_where("mirror_id = ?1 AND path >= ?2 AND path < ?3 AND state <> "
                                   "'verified' AND expected_sha256 IS NULL ORDER BY path")),
        selection_fingerprint(db, "SELECT coalesce(selection, '') FROM mirror WHERE id = ?1"),
        set_selection_fingerprint(db, "UPDATE mirror SET selection = ?2 WHERE id = ?1"),
        dest_marker(db, "SELECT dest_marker FROM mirror WHERE id = ?1"),
        set_dest_marker(db, "UPDATE mirror SET dest_marker = ?2 WHERE id = ?1"),
        verified_paths(db,
                       "SELECT path FROM file WHERE mirror_id = ?1 AND state = 'verified' "
                       "ORDER BY path"),
        all_selection(db, "SELECT id, path, selected FROM file WHERE mirror_id = ?1"),
        set_selected(db, "UPDATE file SET selected = ?2 WHERE id = ?1"),
        mark_unselected(db, "UPDATE file SET selected = 0 WHERE mirror_id = ?1 AND path = ?2"),
        mark_partial(db, "UPDATE file SET state = 'partial', bytes_done = ?2 WHERE id = ?1"),
        save_segments(db,
                      "UPDATE file SET state = CASE WHEN state = 'pending' THEN 'partial' ELSE "
                      "state END, bytes_done = ?2, segments = ?3 WHERE id = ?1"),
        record_attempt_error(db, R"sql(
          UPDATE file SET
            attempts = attempts + 1,
            last_error = ?2,
            state = CASE WHEN ?3 THEN 'failed' ELSE state END,
            verified_by = CASE WHEN ?3 THEN 'none' ELSE verified_by END
          WHERE id = ?1)sql"),
        record_checksum_mismatch(db, R"sql(
          UPDATE file SET
            checksum_mismatches = checksum_mismatches + 1,
            attempts = attempts + 1,
            last_error = ?2,
            bytes_done = 0,  -- the bytes we have are wrong: start over
            segments = NULL,
            state = CASE WHEN ?3 THEN 'failed' ELSE 'pending' END,
            actual_sha256 = NULL,
            verified_by = 'none'
          WHERE id = ?1)sql"),
        requeue(db, R"sql(
          UPDATE file SET
            state = 'pending',
            attempts = 0,
            checksum_mismatches = 0,
            last_error = NULL,
            -- A verified file found missing or damaged is fetched whole; a failed download keeps
            -- its count of bytes in the .part file.
            bytes_done = CASE WHEN state = 'verified' THEN 0 ELSE bytes_done END,
            segments = CASE WHEN state = 'verified' THEN NULL ELSE segments END,
            actual_sha256 = NULL,
            verified_by = 'none'
          WHERE id = ?1)sql"),
        forget_file(db, "DELETE FROM file WHERE id = ?1"),
        mark_verified(db, R"sql(
          UPDATE file SET
            state = 'verified',
            size = ?2,
            bytes_done = ?2,
            segments = NULL,
            actual_sha256 = nullif(?3, ''),
            verified_by = ?4,
            last_error = NULL
          WHERE id = ?1)sql"),
        counts(db, R"sql(
          SELECT count(*) FILTER (WHERE selected),
                 count(*) FILTER (WHERE selected AND state = 'verified'),
                 count(*) FILTER (WHERE selected AND state = 'failed'),
                 count(*) FILTER (WHERE selected AND size IS NULL),
                 coalesce(sum(size) FILTER (WHERE selected), 0),
                 coalesce(sum(size) FILTER (WHERE selected AND state = 'verified'), 0),
                 count(*) FILTER (WHERE NOT selected AND state = 'verified'),
                 coalesce(sum(bytes_done) FILTER (WHERE selected AND state <> 'verified'), 0)
          FROM file WHERE mirror_id = ?1)sql"),
        to_fetch(db, R"sql(
          -- A file of unknown size adds NULL, which sum() leaves out.
          SELECT count(*), coalesce(sum(size - min(bytes_done, size)), 0)
          FROM file WHERE mirror_id = ?1 AND state <> 'verified' AND selected)sql"),
        to_fetch_sample(db,
                        "SELECT path FROM file WHERE mirror_id = ?1 AND state <> 'verified' AND "
                        "selected ORDER BY path LIMIT ?2"),
        quick_check(db, "PRAGMA quick_check(1)"),
        integrity_check(db, "PRAGMA integrity_check(1)") {}

  sqlite::Statement ensure_mirror;
  sqlite::Statement find_mirror;
  sqlite::Statement add_dir;
  sqlite::Statement mark_dir_listed;
  sqlite::Statement pending_dirs;
  sqlite::Statement reset_crawl;
  sqlite::Statement clear_crawl_complete;
  sqlite::Statement set_crawl_complete;
  sqlite::Statement crawl_completed_at;
  sqlite::Statement upsert_file;
  sqlite::Statement find_file;
  sqlite::Statement unfinished_files;
  sqlite::Statement failed_files;
  sqlite::Statement failed_files_page;
  sqlite::Statement verified_files;
  sqlite::Statement unselected_verified_files;
  sqlite::Statement unfinished_listed_in;
  sqlite::Statement selection_fingerprint;
  sqlite::Statement set_selection_fingerprint;
  sqlite::Statement dest_marker;
  sqlite::Statement set_dest_marker;
  sqlite::Statement verified_paths;
  sqlite::Statement all_selection;
  sqlite::Statement set_selected;
  sqlite::Statement mark_unselected;
  sqlite::Statement mark_partial;
  sqlite::Statement save_segments;
  sqlite::Statement record_attempt_error;
  sqlite::Statement record_checksum_mismatch;
  sqlite::Statement requeue;
  sqlite::Statement forget_file;
  sqlite::Statement mark_verified;
  sqlite::Statement counts;
  sqlite::Statement to_fetch;
  sqlite::Statement to_fetch_sample;
  sqlite::Statement quick_check;
  sqlite::Statement integrity_check;
};

}  // namespace

struct Store::Impl {
  explicit Impl(const std::filesystem::path& file) : db(open_database(file)), stmt(db) {}

  FileState parse_state(std::string_view s) const {
    if (s == "pending") return FileState::Pending;
    if (s == "partial") return FileState::Partial;
    if (s == "verified") return FileState::Verified;
    if (s == "failed") return FileState::Failed;
    throw StoreError(db.file() + ": unknown file state \"" + std::string(s) + "\"");
  }

  VerifyKind parse_kind(std::string_view s) const {
    if (s == "none") return VerifyKind::None;
    if (s == "sha256-manifest") return VerifyKind::Sha256Manifest;
    if (s == "size") return VerifyKind::Size;
    throw StoreError(db.file() + ": unknown verification kind \"" + std::string(s) + "\"");
  }

  // Reads a row selected with kFileColumns.
  FileRecord read_file(const sqlite::Statement::Use& row) const {
    FileRecord f;
    f.id = row.int64(0);
    f.path = row.text(1);
    f.size = row.opt_int64(2);
    f.expected_sha256 = row.opt_text(3);
    f.actual_sha256 = row.opt_text(4);
    f.state = parse_state(row.text(5));
    f.bytes_partial = row.int64(6);
    f.attempts = static_cast<int>(row.int64(7));
    f.checksum_mismatches = static_cast<int>(row.int64(8));
    f.last_error = row.text(9);
    f.verified_by = parse_kind(row.text(10));
    f.mtime = row.opt_int64(11);
    f.segments = row.opt_text(12);
    return f;
  }

  std::vector<FileRecord> read_files(sqlite::Statement& query, MirrorId mirror) const {
    std::vector<FileRecord> out;
    auto use = query.use();
    use.bind(mirror);
    while (use.step()) out.push_back(read_file(use));
    return out;
  }

  void upsert(MirrorId mirror, std::span<const DiscoveredFile> files) {
    for (const DiscoveredFile& f : files) {
      stmt.upsert_file.use()
          .bind(mirror)
          .bind(f.path)
          .bind(f.size)
          .bind(f.sha256)
          .bind(f.mtime)
          .exec();
    }
  }

  void add_dirs(MirrorId mirror, std::span<const std::string> dirs) {
    for (const std::string& d : dirs) stmt.add_dir.use().bind(mirror).bind(d).exec();
  }

  // Updates name their row by id; an unknown id is a bug in the caller, not a no-op.
  void expect_changed(std::string_view op, std::string_view noun, std::int64_t id) const {
    if (db.changes() != 1) {
      throw StoreError(db.file() + ": " + std::string(op) + ": no " + std::string(noun) +
                       " with id " + std::to_string(id));
    }
  }

  sqlite::Database db;  // declared first: destroyed after the statements
  Statements stmt;
};

Store::Store(const std::filesystem::path& db_file) : impl_(std::make_unique<Impl>(db_file)) {}
Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

MirrorId Store::ensure_mirror(std::string_view name, std::string_view dest) {
  auto use = impl_->stmt.ensure_mirror.use();
  use.bind(name).bind(dest);
  use.step();  // RETURNING id: one row, for a new mirror and for a known one alike
  return use.int64(0);
}

std::optional<MirrorId> Store::find_mirror(std::string_view name) {
  auto use = impl_->stmt.find_mirror.use();
  use.bind(name);
  if (!use.step()) return std::nullopt;
  return use.int64(0);
}

void Store::add_pending_dirs(MirrorId mirror, std::span<const std::string> dirs) {
  sqlite::Transaction txn(impl_->db);
  impl_->add_dirs(mirror, dirs);
  txn.commit();
}

void Store::record_listing(MirrorId mirror, std::string_view dir,
                           std::span<const DiscoveredFile> files,
                           std::span<const std::string> subdirs, std::int64_t now) {
  sqlite::Transaction txn(impl_->db);
  impl_->upsert(mirror, files);
  impl_->add_dirs(mirror, subdirs);
  impl_->stmt.mark_dir_listed.use().bind(mirror).bind(dir).bind(now).exec();
  txn.commit();
}

std::vector<std::string> Store::pending_dirs(MirrorId mirror) {
  std::vector<std::string> out;
  auto use = impl_->stmt.pending_dirs.use();
  use.bind(mirror);
  while (use.step()) out.push_back(use.text(0));
  return out;
}

void Store::reset_crawl(MirrorId mirror) {
  sqlite::Transaction txn(impl_->db);
  impl_->stmt.reset_crawl.use().bind(mirror).exec();
  impl_->stmt.clear_crawl_complete.use().bind(mirror).exec();
  txn.commit();
}

void Store::set_crawl_complete(MirrorId mirror, std::int64_t when) {
  impl_->stmt.set_crawl_complete.use().bind(mirror).bind(when).exec();
  impl_->expect_changed("set_crawl_complete", "mirror", mirror);
}

std::optional<std::int64_t> Store::crawl_completed_at(MirrorId mirror) {
  auto use = impl_->stmt.crawl_completed_at.use();
  use.bind(mirror);
  if (!use.step()) return std::nullopt;
  return use.opt_int64(0);
}

std::vector<FileRecord> Store::unfinished_listed_in(MirrorId mirror, std::string_view dir) {
  // A range on the (mirror_id, path) index: every path that starts with `dir` sorts between dir
  // and dir + 0xFF (a byte UTF-8 never uses).
  std::vector<FileRecord> out;
  auto use = impl_->stmt.unfinished_listed_in.use();
  use.bind(mirror).bind(dir).bind(std::string(dir) + '\xff');
  while (use.step()) {
    FileRecord file = impl_->read_file(use);
    if (file.path.find('/', dir.size()) == std::string::npos) out.push_back(std::move(file));
  }
  return out;
}

std::string Store::selection_fingerprint(MirrorId mirror) {
  auto use = impl_->stmt.selection_fingerprint.use();
  use.bind(mirror);
  return use.step() ? use.text(0) : std::string();
}

void Store::set_selection_fingerprint(MirrorId mirror, std::string_view fingerprint) {
  impl_->stmt.set_selection_fingerprint.use().bind(mirror).bind(fingerprint).exec();
  impl_->expect_changed("set_selection_fingerprint", "mirror", mirror);
}

std::optional<std::string> Store::dest_marker(MirrorId mirror) {
  auto use = impl_->stmt.dest_marker.use();
  use.bind(mirror);
  if (!use.step() || use.is_null(0)) return std::nullopt;
  return use.text(0);
}

void Store::set_dest_marker(MirrorId mirror, std::string_view name) {
  impl_->stmt.set_dest_marker.use().bind(mirror).bind(name).exec();
  impl_->expect_changed("set_dest_marker", "mirror", mirror);
}

void Store::scan_verified_files(MirrorId mirror,
                                const std::function<bool(const FileRecord&)>& visit) {
  auto use = impl_->stmt.verified_files.use();
  use.bind(mirror);
  while (use.step())
    if (!visit(impl_->read_file(use))) return;
}

void Store::scan_verified_paths(MirrorId mirror,
                                const std::function<bool(std::string_view)>& visit) {
  auto use = impl_->stmt.verified_paths.use();
  use.bind(mirror);
  while (use.step())
    if (!visit(use.text(0))) return;
}

void Store::apply_selection(MirrorId mirror,
                            const std::function<bool(std::string_view)>& selected) {
  std::vector<std::pair<FileId, bool>> changes;
  {
    auto use = impl_->stmt.all_selection.use();
    use.bind(mirror);
    while (use.step()) {
      const bool now = selected(use.text(1));
      if (now != (use.int64(2) != 0)) changes.emplace_back(use.int64(0), now);
    }
  }
  if (changes.empty()) return;
  sqlite::Transaction txn(impl_->db);
  for (const auto& [id, now] : changes)
    impl_->stmt.set_selected.use().bind(id).bind(static_cast<std::int64_t>(now)).exec();
  txn.commit();
}

void Store::mark_unselected(MirrorId mirror, std::span<const std::string> paths) {
  if (paths.empty()) return;
  sqlite::Transaction txn(impl_->db);
  for (const auto& path : paths) impl_->stmt.mark_unselected.use().bind(mirror).bind(path).exec();
  txn.commit();
}

std::vector<FileRecord> Store::unselected_verified_files(MirrorId mirror) {
  return impl_->read_files(impl_->stmt.unselected_verified_files, mirror);
}

void Store::upsert_files(MirrorId mirror, std::span<const DiscoveredFile> files) {
  if (files.empty()) return;
  sqlite::Transaction txn(impl_->db);
  impl_->upsert(mirror, files);
  txn.commit();
}

std::optional<FileRecord> Store::find_file(MirrorId mirror, std::string_view path) {
  auto use = impl_->stmt.find_file.use();
  use.bind(mirror).bind(path);
  if (!use.step()) return std::nullopt;
  return impl_->read_file(use);
}

std::vector<FileRecord> Store::unfinished_files(MirrorId mirror) {
  return impl_->read_files(impl_->stmt.unfinished_files, mirror);
}

std::vector<FileRecord> Store::failed_files(MirrorId mirror) {
  return impl_->read_files(impl_->stmt.failed_files, mirror);
}

std::vector<FileRecord> Store::failed_files_page(MirrorId mirror, std::string_view after,
                                                 std::size_t limit) {
  std::vector<FileRecord> out;
  if (limit == 0) return out;
  auto use = impl_->stmt.failed_files_page.use();
  use.bind(mirror).bind(after).bind(static_cast<std::int64_t>(limit));
  while (use.step()) out.push_back(impl_->read_file(use));
  return out;
}

std::vector<FileRecord> Store::verified_files(MirrorId mirror) {
  return impl_->read_files(impl_->stmt.verified_files, mirror);
}

void Store::mark_partial(FileId file, std::int64_t bytes_partial) {
  impl_->stmt.mark_partial.use().bind(file).bind(bytes_partial).exec();
  impl_->expect_changed("mark_partial", "file", file);
}

void Store::save_segments(FileId file, std::int64_t bytes_partial,
                          std::optional<std::string_view> segments) {
  impl_->stmt.save_segments.use().bind(file).bind(bytes_partial).bind(segments).exec();
  impl_->expect_changed("save_segments", "file", file);
}

void Store::record_attempt_error(FileId file, std::string_view error, bool give_up) {
  impl_->stmt.record_attempt_error.use().bind(file).bind(error).bind(give_up ? 1 : 0).exec();
  impl_->expect_changed("record_attempt_error", "file", file);
}

void Store::record_checksum_mismatch(FileId file, std::string_view error, bool give_up) {
  impl_->stmt.record_checksum_mismatch.use().bind(file).bind(error).bind(give_up ? 1 : 0).exec();
  impl_->expect_changed("record_checksum_mismatch", "file", file);
}

void Store::requeue(FileId file) {
  impl_->stmt.requeue.use().bind(file).exec();
  impl_->expect_changed("requeue", "file", file);
}

void Store::forget_file(FileId file) {
  impl_->stmt.forget_file.use().bind(file).exec();
  impl_->expect_changed("forget_file", "file", file);
}

void Store::mark_verified(std::span<const VerifiedFile> files) {
  if (files.empty()) return;
  sqlite::Transaction txn(impl_->db);
  for (const VerifiedFile& f : files) {
    impl_->stmt.mark_verified.use()
        .bind(f.id)
        .bind(f.size)
        .bind(f.sha256)
        .bind(to_string(f.kind))
        .exec();
    impl_->expect_changed("mark_verified", "file", f.id);
  }
  txn.commit();
}

MirrorCounts Store::counts(MirrorId mirror) {
  auto use = impl_->stmt.counts.use();
  use.bind(mirror);
  use.step();  // an aggregate without GROUP BY always returns one row
  return MirrorCounts{.files_total = use.int64(0),
                      .files_verified = use.int64(1),
                      .files_failed = use.int64(2),
                      .files_unknown_size = use.int64(3),
                      .bytes_total = use.int64(4),
                      .bytes_verified = use.int64(5),
                      .files_kept_unselected = use.int64(6),
                      .bytes_partial = use.int64(7)};
}

Store::ToFetch Store::to_fetch(MirrorId mirror, std::size_t sample) {
  ToFetch out;
  {
    auto use = impl_->stmt.to_fetch.use();
    use.bind(mirror);
    use.step();  // an aggregate without GROUP BY always returns one row
    out.files = use.int64(0);
    out.bytes = use.int64(1);
  }
  if (sample == 0) return out;
  auto use = impl_->stmt.to_fetch_sample.use();
  use.bind(mirror).bind(static_cast<std::int64_t>(sample));
  while (use.step()) out.sample.push_back(use.text(0));
  return out;
}

std::optional<std::string> Store::integrity_problem(Check depth) {
  // One row "ok", or (limited to 1) the first problem found.
  auto use = (depth == Check::Quick ? impl_->stmt.quick_check : impl_->stmt.integrity_check).use();
  if (!use.step())
    return "no answer from PRAGMA " +
           std::string(depth == Check::Quick ? "quick_check" : "integrity_check");
  std::string row(use.text(0));
  if (row == "ok") return std::nullopt;
  return row;
}

}  // namespace pnsync::store
