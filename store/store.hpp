// SPDX-License-Identifier: MIT
// The persistent state of every mirror: which directories were listed, which files exist upstream,
// and how far each one got. Only this library talks to SQLite.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync::store {

// Thrown for start-up failures (cannot open, newer schema, corrupt file) and for SQLite errors,
// which on a local, exclusively locked database mean a bug or a broken disk. The message names the
// database file.
class StoreError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class FileState { Pending, Partial, Verified, Failed };
std::string_view to_string(FileState state);

// How a verified file was checked. A size check is never reported as a checksum.
enum class VerifyKind { None, Sha256Manifest, Size };
std::string_view to_string(VerifyKind kind);

using MirrorId = std::int64_t;
using FileId = std::int64_t;

// A file as the listing or the manifest describes it upstream.
struct DiscoveredFile {
  std::string path;                   // relative to the version root, '/' separated, already safe
  std::optional<std::int64_t> size;   // exact size in bytes, when the listing gives it
  std::optional<std::string> sha256;  // lowercase hex, when the manifest lists the file
  std::optional<std::int64_t> mtime;  // seconds since the epoch, when the listing gives it
};

struct FileRecord {
  FileId id = 0;
  std::string path;
  std::optional<std::int64_t> size;
  std::optional<std::string> expected_sha256;
  std::optional<std::string> actual_sha256;
  FileState state = FileState::Pending;
  std::int64_t bytes_partial = 0;  // in its partial file, as last recorded (column bytes_done)
  int attempts = 0;
  int checksum_mismatches = 0;
  std::string last_error;
  VerifyKind verified_by = VerifyKind::None;
  std::optional<std::int64_t> mtime;  // upstream modification time, as last listed
  // The byte ranges of a file fetched in several pieces at once, as Transfer wrote them; nullopt
  // for a file fetched in one piece.
  std::optional<std::string> segments;
};

struct MirrorCounts {
  std::int64_t files_total = 0;
  std::int64_t files_verified = 0;
  std::int64_t files_failed = 0;
  std::int64_t files_unknown_size = 0;  // files whose size the listing did not give
  std::int64_t bytes_total = 0;         // sum of known sizes
  std::int64_t bytes_verified = 0;
  std::int64_t files_kept_unselected = 0;  // verified earlier, no longer selected, still on disk
  std::int64_t bytes_partial = 0;          // already in partial files (as last recorded)
  // What is still to be written to disk, as far as sizes are known.
  std::int64_t bytes_remaining() const { return bytes_total - bytes_verified - bytes_partial; }
};

struct VerifiedFile {
  FileId id = 0;
  std::int64_t size = 0;
  std::string sha256;  // computed while downloading
  VerifyKind kind = VerifyKind::None;
};

// One connection to one database file. Not thread-safe: use a Store from one thread at a time
// (another process or another Store on the same file is fine; SQLite locks, waiting up to
// busy_timeout). A moved-from Store may only be destroyed or assigned to.
class Store {
public:
  // Opens (creating if needed) the database, applies pending migrations, refuses a database
  // written by a newer pnsync. Throws StoreError naming the file.
  explicit Store(const std::filesystem::path& db_file);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;

  // Mirrors are keyed by name ("project/version"); dest may change between runs.
  MirrorId ensure_mirror(std::string_view name, std::string_view dest);
  // The mirror of that name if the database knows it; adds nothing (pnsyncd --doctor).
  std::optional<MirrorId> find_mirror(std::string_view name);

  // --- the crawl ---------------------------------------------------------------------------------
  // Directory paths are relative to the version root, "" for the root, else ending in '/'.
  void add_pending_dirs(MirrorId mirror, std::span<const std::string> dirs);  // ignores known ones
  // Records one listing in one transaction: its files are upserted and its subdirectories queued,
  // then the directory is marked listed; a crash in between leaves the directory pending.
  void record_listing(MirrorId mirror, std::string_view dir, std::span<const DiscoveredFile> files,
                      std::span<const std::string> subdirs, std::int64_t now);
  std::vector<std::string> pending_dirs(MirrorId mirror);
  // Forget which directories were listed and that the crawl completed, so the next pass lists
  // them again (files stay).
  void reset_crawl(MirrorId mirror);
  void set_crawl_complete(MirrorId mirror, std::int64_t when);
  std::optional<std::int64_t> crawl_completed_at(MirrorId mirror);

  // --- the selection ---------------------------------------------------------------------------
  // Files outside the selection stay in the table (the listing knows them) but are left out of
  // unfinished_files, failed_files, verified_files and counts. New rows start selected.
  // A text that identifies the selection the crawl state was recorded under; empty = none yet.
  std::string selection_fingerprint(MirrorId mirror);
  // The name of the marker file this mirror keeps in dest (daemon/plan/dest_guard.hpp); nullopt
  // before the first pass that wrote one.
  std::optional<std::string> dest_marker(MirrorId mirror);
  void set_dest_marker(MirrorId mirror, std::string_view name);
  void set_selection_fingerprint(MirrorId mirror, std::string_view fingerprint);
  // Re-evaluates every file of the mirror, in one transaction; writes only rows that change.
  void apply_selection(MirrorId mirror, const std::function<bool(std::string_view)>& selected);
  // Marks these paths (already recorded) as outside the selection.
  void mark_unselected(MirrorId mirror, std::span<const std::string> paths);
  // Verified files outside the selection: what is kept on disk.
  std::vector<FileRecord> unselected_verified_files(MirrorId mirror);

  // --- files
  // --------------------------------------------------------------------------------------- Batched
  // upsert, one transaction. A new size or expected hash for a file that differs from what is
  // stored sends a verified file back to Pending (upstream changed). Missing fields never erase
  // known ones (a crawl size does not erase a manifest hash and vice versa).
  void upsert_files(MirrorId mirror, std::span<const DiscoveredFile> files);
  std::optional<FileRecord> find_file(MirrorId mirror, std::string_view path);
  // Every file of the mirror that is not yet Verified (Pending, Partial and Failed), by path.
  std::vector<FileRecord> unfinished_files(MirrorId mirror);
  std::vector<FileRecord> failed_files(MirrorId mirror);
  // One page of failed_files: at most `limit` of them whose path sorts after `after` ("" for the
  // first page), by path. A keyset query on an index, so the last page of a long list costs what
  // the first does, and a file that fails or recovers between two pages neither repeats nor hides
  // another (pnsyncctl failures).
  std::vector<FileRecord> failed_files_page(MirrorId mirror, std::string_view after,
                                            std::size_t limit);
  std::vector<FileRecord> verified_files(MirrorId mirror);
  // Calls `visit` with every selected verified file, in path order, until it returns false.
  // Streams: one record at a time, whatever the size of the mirror. `visit` must not write to
  // the store (the scan's statement is still stepping).
  void scan_verified_files(MirrorId mirror, const std::function<bool(const FileRecord&)>& visit);
  // Calls `visit` with the path of every verified file, selected or kept, in path order, until it
  // returns false. Streams: nothing proportional to the mirror is held.
  void scan_verified_paths(MirrorId mirror, const std::function<bool(std::string_view)>& visit);
  // Files directly in `dir` ("" or ending in '/') that are not verified and that no manifest
  // lists: the ones a new listing of `dir` may show to be gone upstream.
  std::vector<FileRecord> unfinished_listed_in(MirrorId mirror, std::string_view dir);

  void mark_partial(FileId file, std::int64_t bytes_partial);
  // Records how far each range of a file fetched in pieces got (nullopt: no ranges any more).
  // Pending becomes Partial. Called often while a large file downloads: one small UPDATE.
  void save_segments(FileId file, std::int64_t bytes_partial,
                     std::optional<std::string_view> segments);
  // Counts an attempt and keeps the error text for the user; state becomes Failed if `give_up`.
  void record_attempt_error(FileId file, std::string_view error, bool give_up);
  void record_checksum_mismatch(FileId file, std::string_view error, bool give_up);
  // Back to Pending with attempts and mismatches cleared (used by retry and when a verified file
  // is found missing or damaged on disk).
  void requeue(FileId file);
  // Removes a file row (a name that turned out to be a directory). Its id may be given to a file
  // inserted later (SQLite reuses the highest rowid once it is deleted).
  void forget_file(FileId file);
  // Batched: marks these files verified in one transaction (durable once it returns).
  void mark_verified(std::span<const VerifiedFile> files);

  MirrorCounts counts(MirrorId mirror);

  // What unfinished_files would add up to, summed inside SQLite: the plan of a mirror of any size
  // without its rows in memory.
  struct ToFetch {
    std::int64_t files = 0;
    std::int64_t bytes = 0;           // of known sizes, less what partial files hold already
    std::vector<std::string> sample;  // the first `sample` of them, by path
  };
  ToFetch to_fetch(MirrorId mirror, std::size_t sample);

  // PRAGMA quick_check (Quick: b-trees and records, O(N); what doctor runs) or integrity_check
  // (Full: also that every index matches its table). nullopt when sound, else the first problem
  // SQLite reports. A database too damaged to be read throws StoreError instead.
  enum class Check { Quick, Full };
  std::optional<std::string> integrity_problem(Check depth);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pnsync::store
