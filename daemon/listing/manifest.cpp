// SPDX-License-Identifier: MIT
#include "daemon/listing/manifest.hpp"

#include "daemon/disk/safe_path.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

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

std::string overlong() {
  return "longer than " + std::to_string(kMaxManifestLine) + " bytes (no safe path is that long)";
}

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

ManifestParser::ManifestParser(EntryHandler on_entry, ProblemHandler on_problem)
    : on_entry_(std::move(on_entry)), on_problem_(std::move(on_problem)) {}

void ManifestParser::feed(std::string_view chunk) {
  while (!chunk.empty()) {
    const std::size_t newline = chunk.find('\n');
    const std::string_view piece = chunk.substr(0, newline);
    if (newline == std::string_view::npos) {
      hold(piece);
      return;
    }
    chunk.remove_prefix(newline + 1);
    if (partial_.empty() && !overlong_) {
      line(piece);  // the whole line is in this chunk: no copy
    } else {
      hold(piece);
      end_held_line();
    }
  }
}

void ManifestParser::finish() {
  if (overlong_ || !partial_.empty()) end_held_line();
}

void ManifestParser::hold(std::string_view piece) {
  if (overlong_) return;
  if (partial_.size() + piece.size() > kMaxManifestLine) {
    overlong_ = true;  // judged (refused) when its end arrives; nothing more is kept of it
    partial_.clear();
    return;
  }
  partial_.append(piece);
}

void ManifestParser::end_held_line() {
  if (overlong_) {
    overlong_ = false;
    ++line_number_;
    problem(overlong());
    return;
  }
  line(partial_);
  partial_.clear();
}

void ManifestParser::problem(std::string_view reason) {
  on_problem_("line " + std::to_string(line_number_) + ": " + std::string(reason));
}

void ManifestParser::line(std::string_view text) {
  ++line_number_;
  // Measured before the line end is stripped, as hold() measures it: where the chunks end
  // must not change the verdict.
  if (text.size() > kMaxManifestLine) {
    problem(overlong());
    return;
  }
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (is_blank(text)) return;  // refuses no file, so it is not a problem

  if (text.front() == '\\') {
    // sha256sum's escaped form, used only for names holding '\\' or a newline: never safe.
    problem("escaped file name (backslash or newline in the path)");
    return;
  }
  if (text.size() < kHexDigits || !std::all_of(text.begin(), text.begin() + kHexDigits, is_hex)) {
    problem("not \"<64 hex digits> <path>\"");
    return;
  }
  if (text.size() == kHexDigits || text[kHexDigits] != ' ') {
    problem(is_hex(text.size() > kHexDigits ? text[kHexDigits] : ' ')
                ? "checksum longer than 64 hex digits"
                : "no space and path after the checksum");
    return;
  }
  std::string_view path = text.substr(kHexDigits + 1);
  // One space is PhysioNet's form; sha256sum writes a second space (text) or '*' (binary).
  if (!path.empty() && (path.front() == ' ' || path.front() == '*')) path.remove_prefix(1);
  if (path.empty()) {
    problem("no path after the checksum");
    return;
  }
  // `find . -type f | xargs sha256sum` writes "./a/b"; the "./" says nothing.
  if (path.starts_with("./")) path.remove_prefix(2);
  if (!is_safe_relative_path(path)) {
    problem("unsafe path " + quote_for_log(path));
    return;
  }
  if (is_in_work_area(path)) {
    problem("path inside pnsync's work area " + quote_for_log(path));
    return;
  }
  std::transform(text.begin(), text.begin() + kHexDigits, sha256_.begin(), to_lower);
  on_entry_(line_number_, path, std::string_view(sha256_.data(), sha256_.size()));
}

std::optional<std::string> ManifestEntries::add(std::size_t line, std::string_view path,
                                                std::string_view sha256) {
  if (const auto found = by_path_.find(path); found != by_path_.end()) {
    Kept& first = *found->second;
    const std::string prefix = "line " + std::to_string(line) + ": ";
    if (first.entry.sha256 == sha256)
      return prefix + "duplicate of line " + std::to_string(first.line);
    // Two checksums for one file: neither can be trusted, so the file is left to the size
    // check like any file the manifest does not cover.
    if (!first.conflicting) ++conflicting_;
    first.conflicting = true;
    return prefix + "checksum differs from line " + std::to_string(first.line) +
           " for the same path; both dropped";
  }
  entries_.push_back(Kept{ManifestEntry{std::string(path), std::string(sha256)}, line});
  by_path_.emplace(entries_.back().entry.path, &entries_.back());
  return std::nullopt;
}

std::vector<ManifestEntry> ManifestEntries::take() {
  by_path_ = {};  // its keys point into entries_, which is emptied below
  std::vector<ManifestEntry> kept;
  kept.reserve(entries_.size() - conflicting_);
  // pop_front frees the deque block by block: the entries are never held twice.
  while (!entries_.empty()) {
    if (!entries_.front().conflicting) kept.push_back(std::move(entries_.front().entry));
    entries_.pop_front();
  }
  conflicting_ = 0;
  return kept;
}

Manifest collect_manifest(const std::function<void(ManifestParser&)>& feed) {
  Manifest manifest;
  ManifestEntries kept;
  ManifestParser parser(
      [&](std::size_t line, std::string_view path, std::string_view sha256) {
        if (auto problem = kept.add(line, path, sha256))
          manifest.problems.push_back(std::move(*problem));
      },
      [&](std::string problem) { manifest.problems.push_back(std::move(problem)); });
  feed(parser);
  parser.finish();
  manifest.entries = kept.take();
  build_dir_index(manifest);
  return manifest;
}

Manifest parse_manifest(std::string_view text) {
  return collect_manifest([text](ManifestParser& parser) { parser.feed(text); });
}

}  // namespace pnsync
