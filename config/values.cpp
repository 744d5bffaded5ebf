// SPDX-License-Identifier: MIT
#include "config/values.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <vector>

namespace pnsync::config::detail {

namespace {

constexpr std::size_t kQuoteLimit = 120;

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Optimal string alignment distance (Levenshtein plus swaps of neighbours).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

struct Unit {
  std::string_view suffix;
  std::chrono::milliseconds size;
};
// Longest suffix first, so "ms" is not read as "m".
constexpr std::array<Unit, 5> kUnits{{{"ms", std::chrono::milliseconds(1)},
                                      {"s", std::chrono::seconds(1)},
                                      {"m", std::chrono::minutes(1)},
                                      {"h", std::chrono::hours(1)},
                                      {"d", std::chrono::hours(24)}}};

std::string duration_shape(const DurationRule& rule, std::string_view text) {
  return std::string("must be a duration such as 90s, 15m, 24h or 7d") +
         (rule.allow_ms ? " (or 500ms)" : "") + ", got " + quote(text);
}

bool valid_hostname(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

bool valid_port(std::string_view port) {
  if (!all_digits(port) || port.size() > 5) return false;
  int value = 0;
  std::from_chars(port.data(), port.data() + port.size(), value);
  return value >= 1 && value <= 65535;
}

}  // namespace

std::string quote(std::string_view text) {
  std::string out = "\"";
  const bool cut = text.size() > kQuoteLimit;
  for (unsigned char c : text.substr(0, kQuoteLimit)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += cut ? "\"..." : "\"";
  return out;
}

std::optional<std::string_view> suggest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  const std::string needle = to_lower(word);
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;
  for (std::string_view candidate : candidates) {
    const std::size_t distance = edit_distance(needle, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

Parsed<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const bool digits =
      !text.empty() && (all_digits(text) || (text[0] == '-' && all_digits(text.substr(1))));
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (!digits || ec != std::errc{} || ptr != end || value < min || value > max)
    return Parsed<std::int64_t>::fail("must be " + std::to_string(min) + ".." +
                                      std::to_string(max) + ", got " + quote(text));
  return {value, {}};
}

Parsed<std::chrono::milliseconds> parse_duration(std::string_view text, const DurationRule& rule) {
  using Result = Parsed<std::chrono::milliseconds>;
  if (!text.empty() && text[0] == '-')
    return Result::fail("must not be negative, got " + quote(text));
  const std::size_t digits_end = std::min(text.find_first_not_of("0123456789"), text.size());
  const std::string_view number = text.substr(0, digits_end);
  const std::string_view suffix = text.substr(digits_end);
  std::chrono::milliseconds unit = std::chrono::seconds(1);
  if (!suffix.empty()) {
    const auto it = std::find_if(kUnits.begin(), kUnits.end(),
                                 [&](const Unit& u) { return u.suffix == suffix; });
    if (it == kUnits.end() || number.empty()) return Result::fail(duration_shape(rule, text));
    if (it->suffix == "ms" && !rule.allow_ms)
      return Result::fail("milliseconds are not allowed here (use s, m, h or d), got " +
                          quote(text));
    unit = it->size;
  }
  if (number.empty()) return Result::fail(duration_shape(rule, text));
  std::int64_t count = 0;
  const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
  const std::int64_t limit = rule.max.count() / unit.count();
  if (ec != std::errc{} || ptr != number.data() + number.size() || count > limit)
    return Result::fail("must be at most " + duration_setting(rule.max) + ", got " + quote(text));
  const std::chrono::milliseconds value = unit * count;
  if (value < rule.min)
    return Result::fail("must be at least " + duration_setting(rule.min) + ", got " + quote(text));
  return {value, {}};
}

std::string duration_setting(std::chrono::milliseconds d) {
  for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
    if (d.count() != 0 && d.count() % it->size.count() == 0)
      return std::to_string(d.count() / it->size.count()) + std::string(it->suffix);
  }
  return std::to_string(d.count() / 1000) + "s";
}

Parsed<std::int64_t> parse_rate(std::string_view text) {
  using Result = Parsed<std::int64_t>;
  const std::string shape =
      "must be bytes per second with an optional unit K, M or G (binary), such as 50M, 512K or 0 "
      "for no limit, got " +
      quote(text);
  const std::size_t digits_end = std::min(text.find_first_not_of("0123456789"), text.size());
  if (digits_end == 0) return Result::fail(shape);
  std::string suffix = to_lower(text.substr(digits_end));
  if (suffix.ends_with("ib"))
    suffix.resize(suffix.size() - 2);
  else if (suffix.size() == 2 && suffix.back() == 'b')
    suffix.resize(1);
  std::int64_t unit = 1;
  if (suffix == "k")
    unit = std::int64_t{1} << 10;
  else if (suffix == "m")
    unit = std::int64_t{1} << 20;
  else if (suffix == "g")
    unit = std::int64_t{1} << 30;
  else if (!suffix.empty() && suffix != "b")
    return Result::fail(shape);
  std::int64_t count = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits_end, count);
  constexpr std::int64_t kMax = std::int64_t{1} << 40;  // 1 TiB/s: beyond any real link
  if (ec != std::errc{} || ptr != text.data() + digits_end || count > kMax / unit)
    return Result::fail("must be at most 1024G, got " + quote(text));
  return {count * unit, {}};
}

std::string rate_setting(std::int64_t bytes_per_second) {
  static constexpr std::pair<std::int64_t, const char*> kUnitsDown[] = {
      {std::int64_t{1} << 30, "G"}, {std::int64_t{1} << 20, "M"}, {std::int64_t{1} << 10, "K"}};
  for (const auto& [size, suffix] : kUnitsDown)
    if (bytes_per_second != 0 && bytes_per_second % size == 0)
      return std::to_string(bytes_per_second / size) + suffix;
  return std::to_string(bytes_per_second);
}

Parsed<unsigned> parse_mode(std::string_view text) {
  unsigned value = 0;
  const bool octal =
      !text.empty() && text.size() <= 5 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
  if (octal) std::from_chars(text.data(), text.data() + text.size(), value, 8);
  if (!octal || value > 07777)
    return Parsed<unsigned>::fail("must be an octal mode such as 0640 or 2750, got " + quote(text));
  return {value, {}};
}

Parsed<ListenAddress> parse_listen_address(std::string_view text) {
  using Result = Parsed<ListenAddress>;
  const std::string shape =
      "must be HOST:PORT such as 127.0.0.1:9464 or [::1]:9464, got " + quote(text);
  ListenAddress address;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find("]:");
    if (close == std::string_view::npos) return Result::fail(shape);
    address.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return Result::fail(shape);
    address.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  const bool host_ok =
      !address.host.empty() && std::all_of(address.host.begin(), address.host.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
      });
  const auto number = parse_int(port, 1, 65535);
  if (!host_ok || !number.value) return Result::fail(shape);
  address.port = static_cast<unsigned short>(*number.value);
  return {address, {}};
}

std::string Origin::text() const {
  std::string out = scheme + "://" + (ipv6 ? "[" + host + "]" : host);
  if (!port.empty()) out += ":" + port;
  return out;
}

Parsed<Origin> parse_origin(std::string_view text) {
  using Result = Parsed<Origin>;
  const std::string shape =
      "must be an origin such as https://physionet.org (scheme://host[:port]), got ";
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) return Result::fail(shape + quote(text));
  Origin origin;
  origin.scheme = to_lower(text.substr(0, sep));
  if (origin.scheme != "https" && origin.scheme != "http")
    return Result::fail("must start with https:// (or http:// for a loopback host), got " +
                        quote(text));
  std::string_view rest = text.substr(sep + 3);
  if (rest.find('@') != std::string_view::npos)  // never echoed: it may hold a password
    return Result::fail(
        "must not contain user info (user@ or user:password@); "
        "put the user name under credentials");
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos)
    return Result::fail("must be an origin without a path, query or fragment, got " + quote(text));
  std::string_view host = rest, port;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return Result::fail(shape + quote(text));
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after.front() != ':') return Result::fail(shape + quote(text));
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
    in6_addr addr{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1)
      return Result::fail("has an invalid IPv6 address, got " + quote(text));
    origin.ipv6 = true;
  } else if (const std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    has_port = true;
  }
  if (!origin.ipv6 && !valid_hostname(host)) return Result::fail(shape + quote(text));
  if (has_port && !valid_port(port))
    return Result::fail("has an invalid port (must be 1..65535), got " + quote(text));
  origin.host = to_lower(host);
  origin.port = std::string(port);
  return {std::move(origin), {}};
}

bool is_loopback_host(std::string_view host) {
  if (to_lower(host) == "localhost") return true;
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1)
    return reinterpret_cast<const unsigned char*>(&v4.s_addr)[0] == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

Parsed<std::filesystem::path> parse_absolute_path(std::string_view text) {
  using Result = Parsed<std::filesystem::path>;
  if (text.empty()) return Result::fail("must not be empty");
  if (text.find('\0') != std::string_view::npos)
    return Result::fail("must not contain a NUL byte, got " + quote(text));
  if (text.front() != '/') return Result::fail("must be an absolute path, got " + quote(text));
  std::string normal = std::filesystem::path(text).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return {std::filesystem::path(normal), {}};
}

bool paths_overlap(const std::filesystem::path& a, const std::filesystem::path& b) {
  auto ia = a.begin(), ib = b.begin();
  while (ia != a.end() && ib != b.end() && *ia == *ib) ++ia, ++ib;
  return ia == a.end() || ib == b.end();
}

}  // namespace pnsync::config::detail
