// SPDX-License-Identifier: MIT
#include "tests/support/listing_render.hpp"

#include "tests/support/http_wire.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <optional>

namespace pnsync::test {
namespace {

using http::html_escape;
using http::percent_encode;

bool hidden(const DirEntry& e) {
  return e.name.empty() || e.name.front() == '.';
}

// Byte length of the first `n` UTF-8 characters of `s`, or nullopt when `s` is not valid UTF-8.
// With n = npos it measures the whole string; `count` receives the number of characters.
std::optional<std::size_t> utf8_prefix(std::string_view s, std::size_t n, std::size_t* count) {
  std::size_t i = 0;
  std::size_t chars = 0;
  while (i < s.size() && chars < n) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t len = lead < 0x80           ? 1
                            : (lead >> 5) == 0x6  ? 2
                            : (lead >> 4) == 0xe  ? 3
                            : (lead >> 3) == 0x1e ? 4
                                                  : 0;
    if (len == 0 || i + len > s.size()) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return std::nullopt;
    }
    i += len;
    ++chars;
  }
  if (count != nullptr) *count = chars;
  return i;
}

std::tm utc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

// ---- nginx: ngx_http_autoindex_html() with the defaults (autoindex_exact_size on, GMT) ----------

constexpr std::size_t kNginxNameLen = 50;  // NGX_HTTP_AUTOINDEX_NAME_LEN

std::string nginx_line(const DirEntry& e) {
  std::string line =
      "<a href=\"" + percent_encode(e.name, "-._~", true) + (e.is_dir ? "/" : "") + "\">";

  // nginx measures the name in UTF-8 characters when it is valid UTF-8, in bytes otherwise, and
  // cuts names longer than 50 to 47 characters followed by "..>".
  std::size_t chars = 0;
  const bool utf8 = utf8_prefix(e.name, std::string_view::npos, &chars).has_value();
  if (!utf8) chars = e.name.size();
  if (chars > kNginxNameLen) {
    constexpr std::size_t kKeep = kNginxNameLen - 3;
    const std::size_t keep_bytes = utf8 ? *utf8_prefix(e.name, kKeep, nullptr) : kKeep;
    line += html_escape(std::string_view(e.name).substr(0, keep_bytes)) + "..&gt;</a>";
  } else {
    line += html_escape(e.name);
    if (e.is_dir && chars < kNginxNameLen) {
      line += '/';
      ++chars;
    }
    line += "</a>";
    line.append(kNginxNameLen - chars, ' ');
  }

  const std::tm tm = utc(e.mtime);
  char tail[64];
  if (e.is_dir) {
    std::snprintf(tail, sizeof tail, " %02d-%s-%d %02d:%02d %19s\r\n", tm.tm_mday,
                  http::month_abbrev(tm.tm_mon).data(), tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  "-");
  } else {
    std::snprintf(tail, sizeof tail, " %02d-%s-%d %02d:%02d %19llu\r\n", tm.tm_mday,
                  http::month_abbrev(tm.tm_mon).data(), tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  static_cast<unsigned long long>(e.size));
  }
  return line + tail;
}

std::string render_nginx(const ListingPage& page, std::vector<DirEntry> entries) {
  // ngx_http_autoindex_cmp_entries: directories first, then strcmp.
  std::sort(entries.begin(), entries.end(), [](const DirEntry& a, const DirEntry& b) {
    if (a.is_dir != b.is_dir) return a.is_dir;
    return a.name < b.name;
  });
  const std::string title = html_escape(page.url_path);
  std::string html = "<html>\r\n<head><title>Index of " + title + "</title></head>\r\n<body>\r\n" +
                     "<h1>Index of " + title + "</h1><hr><pre><a href=\"../\">../</a>\r\n";
  for (const auto& e : entries) html += nginx_line(e);
  html += "</pre><hr></body>\r\n</html>\r\n";
  return html;
}

// ---- Apache 2.4 mod_autoindex, Debian's defaults (FancyIndexing HTMLTable NameWidth=*) -------

// apr_strfsize(): "  0 ", "973 ", "1.0K", " 12K", "1.2M" ...
std::string apr_strfsize(std::uint64_t size) {
  char buf[16];
  if (size < 973) {
    std::snprintf(buf, sizeof buf, "%3d ", static_cast<int>(size));
    return buf;
  }
  const char* order = "KMGTPE";
  for (;;) {
    auto remain = static_cast<int>(size & 1023);
    size >>= 10;
    if (size >= 973) {
      ++order;
      continue;
    }
    if (size < 9 || (size == 9 && remain < 973)) {
      if ((remain = ((remain * 5) + 256) / 512) >= 10) {
        ++size;
        remain = 0;
      }
      std::snprintf(buf, sizeof buf, "%d.%d%c", static_cast<int>(size), remain, *order);
      return buf;
    }
    if (remain >= 512) ++size;
    std::snprintf(buf, sizeof buf, "%3d%c", static_cast<int>(size), *order);
    return buf;
  }
}

std::string apache_icon(const DirEntry& e) {
  if (e.is_dir) return R"(<img src="/icons/folder.gif" alt="[DIR]">)";
  const auto ext = std::filesystem::path(e.name).extension().string();
  if (ext == ".txt" || ext == ".csv" || ext == ".html")
    return R"(<img src="/icons/text.gif" alt="[TXT]">)";
  if (ext == ".gz" || ext == ".zip" || ext == ".tgz") {
    return R"(<img src="/icons/compressed.gif" alt="[   ]">)";
  }
  return R"(<img src="/icons/unknown.gif" alt="[   ]">)";
}

std::string render_apache(const ListingPage& page, std::vector<DirEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  // Apache titles the directory without its trailing slash ("Index of /files/demo/1.0").
  std::string dir = page.url_path;
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string parent = dir.substr(0, dir.rfind('/') + 1);

  const std::string title = html_escape(dir);
  std::string html =
      "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<html>\n <head>\n  <title>Index "
      "of " +
      title + "</title>\n </head>\n <body>\n<h1>Index of " + title + "</h1>\n  <table>\n" +
      R"(   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>)" +
      R"(<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>)" +
      R"(<th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>)" +
      "\n   <tr><th colspan=\"5\"><hr></th></tr>\n";
  if (dir != "/") {
    html +=
        R"(<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href=")" +
        html_escape(percent_encode(parent, "$-_.+!*'(),:@&=/~", false)) +
        R"(">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>)" +
        "\n";
  }
  for (const auto& e : entries) {
    const std::tm tm = utc(e.mtime);
    char date[64];
    std::snprintf(date, sizeof date, "%04d-%02d-%02d %02d:%02d  ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min);
    const std::string slash = e.is_dir ? "/" : "";
    // ap_os_escape_path() keeps these punctuation characters and writes lowercase hex.
    html += "<tr><td valign=\"top\">" + apache_icon(e) + "</td><td><a href=\"" +
            html_escape(percent_encode(e.name, "$-_.+!*'(),:@&=~", false)) + slash + "\">" +
            html_escape(e.name) + slash + "</a></td><td align=\"right\">" + date +
            "</td><td align=\"right\">" + (e.is_dir ? std::string("  - ") : apr_strfsize(e.size)) +
            "</td><td>&nbsp;</td></tr>\n";
  }
  html +=
      "   <tr><th colspan=\"5\"><hr></th></tr>\n</table>\n<address>Apache/2.4.57 (Debian) Server "
      "at " +
      html_escape(page.host) + " Port " + std::to_string(page.port) +
      "</address>\n</body></html>\n";
  return html;
}

// ---- PhysioNet development server (Django without nginx) -------------------------------------

std::string render_devserver(std::vector<DirEntry> entries) {
  std::sort(entries.begin(), entries.end(), [](const DirEntry& a, const DirEntry& b) {
    if (a.is_dir != b.is_dir) return a.is_dir;
    return a.name < b.name;
  });
  std::string html = "<!DOCTYPE html><html><body><ul>";
  for (const auto& e : entries) {
    // Directories are linked without a trailing slash; the server answers them with a 302.
    html += "<li><a href=\"" + percent_encode(e.name, "-._~", true) + "\">" + html_escape(e.name) +
            "</a></li>";
  }
  html += "</ul></body></html>";
  return html;
}

}  // namespace

std::vector<DirEntry> read_directory(const std::filesystem::path& dir) {
  std::vector<DirEntry> entries;
  for (const auto& item : std::filesystem::directory_iterator(dir)) {
    struct stat st {};
    if (::stat(item.path().c_str(), &st) != 0) continue;
    entries.push_back({item.path().filename().string(), S_ISDIR(st.st_mode),
                       static_cast<std::uint64_t>(st.st_size), st.st_mtime});
  }
  return entries;
}

std::string render_listing(ListingStyle style, const ListingPage& page,
                           std::vector<DirEntry> entries) {
  std::erase_if(entries, hidden);
  switch (style) {
    case ListingStyle::Nginx:
      return render_nginx(page, std::move(entries));
    case ListingStyle::Apache:
      return render_apache(page, std::move(entries));
    case ListingStyle::DevServer:
      return render_devserver(std::move(entries));
  }
  return {};
}

}  // namespace pnsync::test
