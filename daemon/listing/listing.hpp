// SPDX-License-Identifier: MIT
// Parses a directory listing page into entries. Three dialects are understood: nginx autoindex
// (physionet.org), the PhysioNet development server's <ul> list and Apache mod_autoindex.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync {

enum class EntryKind {
  File,
  Dir,
  // The development server links directories without a trailing slash, so a bare name may be
  // either; the engine finds out from the server's 302 to "NAME/".
  Unknown,
};

struct ListingEntry {
  std::string name;  // one decoded, safe path segment (never "." or "..")
  EntryKind kind = EntryKind::File;
  std::optional<std::int64_t> size;   // exact bytes; only when the listing states it exactly
  std::optional<std::int64_t> mtime;  // seconds since the epoch (UTC), when given
};

struct Listing {
  std::vector<ListingEntry> entries;  // sorted by name, duplicates removed
  std::vector<std::string> rejected;  // hrefs refused (unsafe, absolute, off-tree), for the log
};

// `html` is the page body. Links that leave the directory (absolute URLs, "../", query strings
// such as Apache's "?C=N;O=D" sort links, fragments) are ignored; unsafe names are rejected.
// In nginx and Apache listings an href without a trailing slash is a file; in the development
// server's <ul> dialect it is Unknown.
Listing parse_listing(std::string_view html);

}  // namespace pnsync
