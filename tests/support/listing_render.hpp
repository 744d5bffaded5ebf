// SPDX-License-Identifier: MIT
// Directory listings byte-for-byte like the servers the client meets: nginx autoindex
// (physionet.org), Apache 2.4 mod_autoindex with HTMLTable (lab mirrors) and the PhysioNet
// development server's <ul>.
#pragma once

#include "tests/support/http_server.hpp"

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync::test {

struct DirEntry {
  std::string name;  // one path segment, raw bytes
  bool is_dir = false;
  std::uint64_t size = 0;
  std::time_t mtime = 0;
};

// Every entry of `dir`, dot-files included, following symlinks like stat(2); entries that cannot
// be stat'ed (dangling links) are skipped, as nginx does.
std::vector<DirEntry> read_directory(const std::filesystem::path& dir);

struct ListingPage {
  std::string url_path;  // decoded directory path with its trailing slash, "/files/demo/1.0/"
  std::string host = "127.0.0.1";  // for Apache's <address> line
  std::uint16_t port = 80;
};

// Renders the page in `style`. Dot-files are hidden and the order is each server's own: nginx
// puts directories first then sorts by bytes; Apache sorts by name; the development server lists
// directories, then files.
std::string render_listing(ListingStyle style, const ListingPage& page,
                           std::vector<DirEntry> entries);

}  // namespace pnsync::test
