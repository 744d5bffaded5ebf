// SPDX-License-Identifier: MIT
// SHA256SUMS.txt: "<64 hex> <path>\n" per file (sha256sum's format, text or '*' binary marker).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pnsync {

struct ManifestEntry {
  std::string path;    // safe relative path
  std::string sha256;  // 64 lowercase hex
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

// Accepts LF or CRLF line ends, uppercase hex (normalised to lowercase), one or two spaces, and
// the '*' binary marker. Refuses unsafe paths (see safe_path.hpp) and malformed lines, recording
// them in `problems` rather than failing the whole manifest.
Manifest parse_manifest(std::string_view text);

}  // namespace pnsync
