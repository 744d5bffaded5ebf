// SPDX-License-Identifier: MIT
#include "daemon/manifest.hpp"

#include "daemon/safe_path.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace pnsync {
namespace {

constexpr std::size_t kHexDigits = 64;
constexpr std::size_t kMaxQuotedPath = 120;  // how much of a refused path a problem line shows

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

// A refused path is hostile text on its way to a log: show it printable, escaped and short.
std::string quote_for_log(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == kMaxQuotedPath) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c >= 0x80) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out += '"';
  return out;
}

void add_problem(Manifest& manifest, std::size_t line_number, std::string_view reason) {
  manifest.problems.push_back("line " + std::to_string(line_number) + ": " + std::string(reason));
}

struct Seen {
  std::size_t line_number;
  std::size_t index;  // into entries
  bool conflicting = false;
};

void build_dir_index(Manifest& manifest) {
  // Consecutive lines of a (normally sorted) manifest share their directories: remembering the
  // last directory seen at each depth drops almost every duplicate before the sort, which is
  // what keeps a 377,000-line manifest fast. Unsorted manifests are merely slower.
  std::vector<std::string_view> dirs;
  std::vector<std::string_view> last_at_depth;
  for (const ManifestEntry& entry : manifest.entries) {
    const std::string_view path = entry.path;
    std::size_t depth = 0;
    for (std::size_t slash = path.find('/'); slash != std::string_view::npos;
         slash = path.find('/', slash + 1), ++depth) {
      const std::string_view dir = path.substr(0, slash + 1);
      if (depth < last_at_depth.size() && last_at_depth[depth] == dir) continue;
      if (depth >= last_at_depth.size()) last_at_depth.resize(depth + 1);
      last_at_depth[depth] = dir;
      dirs.push_back(dir);
    }
  }
  if (!std::is_sorted(dirs.begin(), dirs.end())) std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  manifest.covered_dirs.assign(dirs.begin(), dirs.end());
}

}  // namespace

bool Manifest::covers_dir(std::string_view dir) const {
  if (dir.empty() || dir == "/") return !entries.empty();
  std::string with_slash;
  if (dir.back() != '/') {
    with_slash.assign(dir).push_back('/');
    dir = with_slash;
  }
  const std::string_view key = dir;
  if (!covered_dirs.empty()) {
    const auto it =
        std::lower_bound(covered_dirs.begin(), covered_dirs.end(), key,
                         [](const std::string& a, std::string_view b) { return a < b; });
    return it != covered_dirs.end() && *it == key;
  }
  return std::any_of(entries.begin(), entries.end(), [&](const ManifestEntry& entry) {
    return std::string_view(entry.path).starts_with(key);
  });
}

Manifest parse_manifest(std::string_view text) {
  Manifest manifest;
  // Keys view into `text`, which outlives the parse.
  std::unordered_map<std::string_view, Seen> seen;
  // At most one entry per line, and an entry's line holds at least 66 bytes ("<64 hex> p"):
  // counting newlines alone would let a manifest of blank lines reserve 72 bytes per byte.
  const auto most_entries =
      std::min(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1,
               text.size() / (kHexDigits + 2) + 1);
  seen.reserve(most_entries);
  manifest.entries.reserve(most_entries);
  std::size_t line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t newline = text.find('\n', pos);
    std::string_view line = text.substr(
        pos, newline == std::string_view::npos ? std::string_view::npos : newline - pos);
    pos = newline == std::string_view::npos ? text.size() : newline + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank(line)) continue;  // refuses no file, so it is not a problem

    if (line.front() == '\\') {
      // sha256sum's escaped form, used only for names holding '\\' or a newline: never safe.
      add_problem(manifest, line_number, "escaped file name (backslash or newline in the path)");
      continue;
    }
    if (line.size() < kHexDigits || !std::all_of(line.begin(), line.begin() + kHexDigits, is_hex)) {
      add_problem(manifest, line_number, "not \"<64 hex digits> <path>\"");
      continue;
    }
    if (line.size() == kHexDigits || line[kHexDigits] != ' ') {
      add_problem(manifest, line_number,
                  is_hex(line.size() > kHexDigits ? line[kHexDigits] : ' ')
                      ? "checksum longer than 64 hex digits"
                      : "no space and path after the checksum");
      continue;
    }
    std::string_view path = line.substr(kHexDigits + 1);
    // One space is PhysioNet's form; sha256sum writes a second space (text) or '*' (binary).
    if (!path.empty() && (path.front() == ' ' || path.front() == '*')) path.remove_prefix(1);
    if (path.empty()) {
      add_problem(manifest, line_number, "no path after the checksum");
      continue;
    }
    // `find . -type f | xargs sha256sum` writes "./a/b"; the "./" says nothing.
    if (path.starts_with("./")) path.remove_prefix(2);
    auto safe = safe_relative_path(path);
    if (!safe) {
      add_problem(manifest, line_number, "unsafe path " + quote_for_log(path));
      continue;
    }
    std::string sha256(line.substr(0, kHexDigits));
    std::transform(sha256.begin(), sha256.end(), sha256.begin(), to_lower);

    const auto [it, inserted] = seen.try_emplace(path, Seen{line_number, manifest.entries.size()});
    if (!inserted) {
      Seen& first = it->second;
      if (manifest.entries[first.index].sha256 == sha256) {
        add_problem(manifest, line_number,
                    "duplicate of line " + std::to_string(first.line_number));
      } else {
        // Two checksums for one file: neither can be trusted, so the file is left to the
        // size check like any file the manifest does not cover.
        add_problem(manifest, line_number,
                    "checksum differs from line " + std::to_string(first.line_number) +
                        " for the same path; both dropped");
        first.conflicting = true;
      }
      continue;
    }
    manifest.entries.push_back(ManifestEntry{std::move(*safe), std::move(sha256)});
  }

  const bool any_conflict = std::any_of(seen.begin(), seen.end(),
                                        [](const auto& item) { return item.second.conflicting; });
  if (any_conflict) {
    std::vector<bool> drop(manifest.entries.size(), false);
    for (const auto& [path, info] : seen) {
      if (info.conflicting) drop[info.index] = true;
    }
    std::vector<ManifestEntry> kept;
    kept.reserve(manifest.entries.size());
    for (std::size_t i = 0; i < manifest.entries.size(); ++i) {
      if (!drop[i]) kept.push_back(std::move(manifest.entries[i]));
    }
    manifest.entries = std::move(kept);
  }
  build_dir_index(manifest);
  return manifest;
}

}  // namespace pnsync
