// SPDX-License-Identifier: MIT
// SHA256SUMS.txt: "<64 hex> <path>\n" per file (sha256sum's format, text or '*' binary marker).
//
// Two ways in. ManifestParser reads a manifest of any size in chunks and hands each line over
// as it completes, holding at most one unfinished line: the engine streams MIMIC-CXR-JPG's
// 52 MB (377,000 lines) from disk and keeps only the entries its selection wants
// (ManifestEntries deduplicates those). parse_manifest is both together over a whole text in
// memory, for small manifests and tests.
#pragma once

#include <array>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pnsync {

struct ManifestEntry {
  std::string path;    // safe relative path
  std::string sha256;  // 64 lowercase hex
};

// The longest line ManifestParser holds. A line that can be accepted is at most 4,165 bytes
// (64 hex, two separator bytes, "./", a 4,096-byte path, '\r'); a longer one is refused without
// being held, so a hostile manifest of one endless line costs no memory.
inline constexpr std::size_t kMaxManifestLine = 8192;

// Splits what it is fed into lines, wherever the chunks end, and judges each line as it
// completes. Accepts LF or CRLF line ends, uppercase hex (normalised to lowercase), one or two
// spaces, and the '*' binary marker; refuses unsafe paths (see safe_path.hpp), malformed lines
// and lines over kMaxManifestLine, each with a problem "line N: reason" rather than failing the
// whole manifest. It does not deduplicate: that is ManifestEntries' job, for the entries kept.
class ManifestParser {
public:
  // An accepted line: its number (from 1), its safe relative path and its checksum as 64
  // lowercase hex. Both views are valid only during the call.
  using EntryHandler =
      std::function<void(std::size_t line, std::string_view path, std::string_view sha256)>;
  // A refused line, as "line N: reason" (printable ASCII whatever the line held).
  using ProblemHandler = std::function<void(std::string problem)>;

  ManifestParser(EntryHandler on_entry, ProblemHandler on_problem);

  // The next bytes of the manifest; a chunk may end anywhere, even inside a CRLF.
  void feed(std::string_view chunk);
  // The end of the manifest: a last line without a line end counts.
  void finish();

  std::size_t lines() const { return line_number_; }
  // Bytes of the unfinished line held between chunks; never more than kMaxManifestLine.
  std::size_t held() const { return partial_.size(); }

private:
  void hold(std::string_view piece);  // part of a line whose end is in a later chunk
  void end_held_line();
  void line(std::string_view text);
  void problem(std::string_view reason);

  EntryHandler on_entry_;
  ProblemHandler on_problem_;
  std::string partial_;    // the start of a line whose end has not arrived yet
  bool overlong_ = false;  // the unfinished line passed kMaxManifestLine: skip to its end
  std::size_t line_number_ = 0;
  std::array<char, 64> sha256_{};
};

// The entries a reader keeps, deduplicated in file order. The same path twice with the same
// checksum is a duplicate (the later line is reported and dropped); with different checksums
// neither can be trusted, so both are dropped and the file is left to the size check like any
// file the manifest does not cover. Memory follows the entries added, not the manifest.
class ManifestEntries {
public:
  // The problem for a path seen before ("line 5: duplicate of line 1"), else nullopt.
  std::optional<std::string> add(std::size_t line, std::string_view path, std::string_view sha256);
  std::size_t size() const { return entries_.size(); }
  // The entries in file order, without the paths that had two checksums; empties this.
  std::vector<ManifestEntry> take();

private:
  struct Kept {
    ManifestEntry entry;
    std::size_t line = 0;
    bool conflicting = false;
  };
  std::deque<Kept> entries_;                             // stable: the keys below point in here
  std::unordered_map<std::string_view, Kept*> by_path_;  // keys view entries_[i].entry.path
  std::size_t conflicting_ = 0;
};

struct Manifest {
  std::vector<ManifestEntry> entries;  // in file order, duplicates (same path) removed
  std::vector<std::string> problems;   // "line N: reason" for every line refused
  // Every directory ("a/", "a/b/") with an entry somewhere below it, sorted and unique. Filled
  // by parse_manifest so that covers_dir is a binary search, not a scan of every entry (the
  // MIMIC-CXR-JPG manifest has ~377,000 lines). Left empty, covers_dir scans `entries`; rebuild
  // it (or clear it) after editing `entries` by hand.
  std::vector<std::string> covered_dirs;
  // True when some entry lives under `dir` ("files/" or "" for the root; the trailing '/' is
  // optional). A directory with no manifest entry below it must be crawled.
  bool covers_dir(std::string_view dir) const;
};

// A whole manifest in memory: ManifestParser over `text`, every entry kept (ManifestEntries),
// problems in line order, and covered_dirs built.
Manifest parse_manifest(std::string_view text);
// The same with the text fed by `feed` (which calls ManifestParser::feed as often as it likes):
// how tests check that any split of the text gives what parse_manifest does.
Manifest collect_manifest(const std::function<void(ManifestParser&)>& feed);

}  // namespace pnsync
