// SPDX-License-Identifier: MIT
#include "tests/support/http_wire.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace pnsync::test::http {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kWeekdays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// RFC 9110 tchar: the characters allowed in a method and a field name.
bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Does a comma-separated header value (e.g. Connection) contain `token`?
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

const std::string* find_header(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

bool RequestHead::keep_alive() const {
  const std::string* connection = header("Connection");
  if (minor_version == 0) return connection != nullptr && has_token(*connection, "keep-alive");
  return connection == nullptr || !has_token(*connection, "close");
}

std::optional<RequestHead> parse_request_head(std::string_view head) {
  constexpr std::string_view kCrlf = "\r\n";
  auto next_line = [&]() -> std::optional<std::string_view> {
    const auto end = head.find(kCrlf);
    if (end == std::string_view::npos) return std::nullopt;
    const auto line = head.substr(0, end);
    head.remove_prefix(end + kCrlf.size());
    return line;
  };

  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
  auto line = next_line();
  if (line && line->empty()) line = next_line();
  if (!line) return std::nullopt;

  RequestHead req;
  const auto sp1 = line->find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line->find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line->find(' ', sp2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  req.method = std::string(line->substr(0, sp1));
  req.target = std::string(line->substr(sp1 + 1, sp2 - sp1 - 1));
  const auto version = line->substr(sp2 + 1);
  if (!is_token(req.method) || req.target.empty()) return std::nullopt;
  if (version == "HTTP/1.1") {
    req.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    req.minor_version = 0;
  } else {
    return std::nullopt;
  }
  for (char c : req.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }

  while (auto field = next_line()) {
    if (field->empty()) return req;  // end of head
    if (req.headers.size() == kMaxHeaderCount) return std::nullopt;
    const auto colon = field->find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto name = field->substr(0, colon);
    if (!is_token(name)) return std::nullopt;  // also refuses obs-fold and "Name : value"
    req.headers.push_back({std::string(name), std::string(trim(field->substr(colon + 1)))});
  }
  return std::nullopt;  // no empty line: the head is incomplete
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;  // "%" or "%4" at the end
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string percent_encode(std::string_view s, std::string_view keep, bool upper_hex) {
  const char* digits = upper_hex ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x80 && std::isalnum(u) != 0) ||
        (c != '\0' && keep.find(c) != std::string_view::npos)) {
      out += c;
    } else {
      out += '%';
      out += digits[u >> 4];
      out += digits[u & 0x0f];
    }
  }
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view s) {
  if (s.size() % 4 != 0) return std::nullopt;
  std::string out(s.size() / 4 * 3, '\0');
  // EVP_DecodeBlock ignores padding: it returns whole 3-byte groups, so drop one byte per '='.
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return std::nullopt;
  auto len = static_cast<std::size_t>(n);
  for (auto it = s.rbegin(); it != s.rend() && *it == '=' && len > 0; ++it) --len;
  out.resize(len);
  return out;
}

std::string imf_fixdate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                kWeekdays[static_cast<std::size_t>(tm.tm_wday)].data(), tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon)].data(), tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<std::time_t> parse_imf_fixdate(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": fixed width, so check by position.
  if (s.size() != 29 || s.substr(3, 2) != ", " || s.substr(25) != " GMT") return std::nullopt;
  std::tm tm{};
  const std::string text(s);
  char month[4] = {};
  if (std::sscanf(text.c_str() + 5, "%2d %3s %4d %2d:%2d:%2d", &tm.tm_mday, month, &tm.tm_year,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  const auto it = std::find(kMonths.begin(), kMonths.end(), std::string_view(month));
  if (it == kMonths.end()) return std::nullopt;
  tm.tm_mon = static_cast<int>(it - kMonths.begin());
  tm.tm_year -= 1900;
  return timegm(&tm);
}

std::string_view month_abbrev(int month0) {
  return kMonths.at(static_cast<std::size_t>(month0));
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Not Allowed";  // nginx's wording
    case 408:
      return "Request Timeout";
    case 416:
      return "Requested Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Temporarily Unavailable";
    case 504:
      return "Gateway Time-out";
    default:
      return "Unknown";
  }
}

ByteRange parse_range(std::string_view value, std::uint64_t size) {
  using Kind = ByteRange::Kind;
  value = trim(value);
  if (!istarts_with(value, "bytes=")) return {};
  const auto spec = trim(value.substr(6));
  if (spec.find(',') != std::string_view::npos) return {};  // multipart ranges: not offered
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {};

  ByteRange r;
  const auto first_text = trim(spec.substr(0, dash));
  const auto last_text = trim(spec.substr(dash + 1));
  if (first_text.empty()) {  // suffix range "-S": the last S bytes
    const auto suffix = parse_u64(last_text);
    if (!suffix) return {};
    if (*suffix == 0 || size == 0) return {Kind::Unsatisfiable};
    r.first = size > *suffix ? size - *suffix : 0;
    r.last = size - 1;
    r.kind = Kind::Satisfiable;
    return r;
  }
  const auto first = parse_u64(first_text);
  if (!first) return {};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto parsed = parse_u64(last_text);
    if (!parsed) return {};
    if (*parsed < *first) return {Kind::Unsatisfiable};
    last = std::min(last, *parsed);
  }
  if (*first >= size) return {Kind::Unsatisfiable};
  return {Kind::Satisfiable, *first, last};
}

}  // namespace pnsync::test::http
