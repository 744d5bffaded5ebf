// SPDX-License-Identifier: MIT
// parse_manifest on arbitrary bytes: no crash, no undefined behaviour, every entry safe and
// well formed, and the directory index agrees with the entries.
#include "daemon/manifest.hpp"
#include "daemon/safe_path.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace {

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
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
  return 0;
}
