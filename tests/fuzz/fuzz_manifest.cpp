// SPDX-License-Identifier: MIT
// parse_manifest on arbitrary bytes: no crash, no undefined behaviour, every entry safe and
// well formed, and the directory index agrees with the entries. Then the streaming parser the
// engine uses, fed the same bytes in pieces whose sizes come from the input: the same entries and
// problems wherever the pieces end, and never more than one line held.
#include "daemon/disk/safe_path.hpp"
#include "daemon/listing/manifest.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// The input again, in pieces of 1..256 bytes chosen by the input's own bytes.
pnsync::Manifest parse_in_pieces(const std::uint8_t* data, std::size_t size) {
  pnsync::Manifest manifest;
  pnsync::ManifestEntries kept;
  pnsync::ManifestParser parser(
      [&](std::size_t line, std::string_view path, std::string_view sha256) {
        if (auto problem = kept.add(line, path, sha256))
          manifest.problems.push_back(std::move(*problem));
      },
      [&](std::string problem) { manifest.problems.push_back(std::move(problem)); });
  for (std::size_t at = 0, i = 0; at < size; ++i) {
    const std::size_t piece = std::min<std::size_t>(1 + data[i % size], size - at);
    parser.feed(std::string_view(reinterpret_cast<const char*>(data) + at, piece));
    at += piece;
    FUZZ_CHECK(parser.held() <= pnsync::kMaxManifestLine);
  }
  parser.finish();
  manifest.entries = kept.take();
  return manifest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const pnsync::Manifest manifest = pnsync::parse_manifest(text);

  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  FUZZ_CHECK(manifest.entries.size() + manifest.problems.size() <= lines);
  // Problems go to the log: "line N: ...", printable ASCII only, whatever the line held.
  for (const std::string& problem : manifest.problems) {
    FUZZ_CHECK(problem.starts_with("line "));
    FUZZ_CHECK(
        std::all_of(problem.begin(), problem.end(), [](char c) { return c >= 0x20 && c < 0x7f; }));
  }

  std::set<std::string_view> paths;
  std::set<std::string> parents;  // every directory with an entry below it
  for (const pnsync::ManifestEntry& entry : manifest.entries) {
    // The path is safe and already in normal form.
    const auto safe = pnsync::safe_relative_path(entry.path);
    FUZZ_CHECK(safe.has_value());
    FUZZ_CHECK(*safe == entry.path);
    FUZZ_CHECK(paths.insert(entry.path).second);  // duplicates removed
    // 64 lowercase hex digits.
    FUZZ_CHECK(entry.sha256.size() == 64);
    FUZZ_CHECK(std::all_of(entry.sha256.begin(), entry.sha256.end(), is_lower_hex));
    for (std::size_t slash = entry.path.find('/'); slash != std::string::npos;
         slash = entry.path.find('/', slash + 1)) {
      const std::string_view dir = std::string_view(entry.path).substr(0, slash + 1);
      FUZZ_CHECK(manifest.covers_dir(dir));
      FUZZ_CHECK(manifest.covers_dir(dir.substr(0, dir.size() - 1)));  // the '/' is optional
      parents.emplace(dir);
    }
  }
  // The index is exactly those directories, sorted and unique.
  FUZZ_CHECK(std::equal(manifest.covered_dirs.begin(), manifest.covered_dirs.end(), parents.begin(),
                        parents.end()));
  FUZZ_CHECK(manifest.covers_dir("") == !manifest.entries.empty());

  // Streamed: the same verdicts wherever the reads end.
  const pnsync::Manifest streamed = parse_in_pieces(data, size);
  FUZZ_CHECK(streamed.problems == manifest.problems);
  FUZZ_CHECK(streamed.entries.size() == manifest.entries.size());
  for (std::size_t i = 0; i < streamed.entries.size() && i < manifest.entries.size(); ++i) {
    FUZZ_CHECK(streamed.entries[i].path == manifest.entries[i].path);
    FUZZ_CHECK(streamed.entries[i].sha256 == manifest.entries[i].sha256);
  }
  return 0;
}
