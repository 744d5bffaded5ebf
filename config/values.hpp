// SPDX-License-Identifier: MIT
// Scalar value parsers behind the config loader: pure functions on text, no YAML, no I/O.
// Each returns the value or a reason phrased to follow "KEY: " in a ConfigError message.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pnsync::config::detail {

// A value or the reason it was refused (never both).
template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;
  static Parsed fail(std::string why) { return Parsed{std::nullopt, std::move(why)}; }
};

// `text` in double quotes, with quotes, backslashes and control bytes escaped and long text cut,
// so a message stays one readable line whatever the user wrote.
std::string quote(std::string_view text);

// The candidate closest to `word` by edit distance (insertions, deletions, substitutions and
// swaps of neighbours), when that distance is <= 2; otherwise nothing.
std::optional<std::string_view> suggest(std::string_view word,
                                        std::span<const std::string_view> candidates);

// A decimal integer in [min, max]: "8" but not "+8", "8.0", "0x8" or " 8".
Parsed<std::int64_t> parse_int(std::string_view text, std::int64_t min, std::int64_t max);

struct DurationRule {
  std::chrono::milliseconds min{1000};
  std::chrono::milliseconds max{std::chrono::hours(24 * 365)};
  bool allow_ms = false;  // accept the "ms" unit (and a min below one second)
};
// "<digits><unit>" with unit s, m, h, d (and ms when allowed); bare digits are seconds.
Parsed<std::chrono::milliseconds> parse_duration(std::string_view text, const DurationRule& rule);
// `d` as a setting is written: the largest unit that expresses it exactly, 300000ms -> "5m",
// 1500ms -> "1500ms" (common/progress.hpp formats durations for people).
std::string duration_setting(std::chrono::milliseconds d);

// A transfer rate in bytes per second: digits with an optional binary unit K, M, G (KiB/s,
// MiB/s, GiB/s, as curl --limit-rate and rclone --bwlimit read them): "50M", "512K", "0" (no
// limit). Case-insensitive unit; a trailing "B" or "iB" is accepted ("50MiB", "50MB").
Parsed<std::int64_t> parse_rate(std::string_view text);
// A rate as a setting is written: "52428800" -> "50M", the shortest exact form parse_rate()
// reads back (common/progress.hpp formats rates for people).
std::string rate_setting(std::int64_t bytes_per_second);

// A permission mode in octal, "0640" or "2750" (0..07777); `what` names it in messages.
Parsed<unsigned> parse_mode(std::string_view text);

// host:port for a listening socket: "127.0.0.1:9464", "[::1]:9464", "localhost:9464".
struct ListenAddress {
  std::string host;  // without brackets
  unsigned short port = 0;
};
Parsed<ListenAddress> parse_listen_address(std::string_view text);

struct Origin {
  std::string scheme;  // "https" or "http", lower case
  std::string host;    // lower case; an IPv6 literal without its brackets
  std::string port;    // digits, or "" for the scheme's default
  bool ipv6 = false;
  std::string text() const;  // "scheme://host[:port]" with brackets around IPv6
};
// scheme://host[:port] with an optional single trailing "/"; nothing else (no user info, path,
// query or fragment). Does not apply the https-unless-loopback rule: see is_loopback_host().
Parsed<Origin> parse_origin(std::string_view text);
// localhost, 127.0.0.0/8, ::1 (also written in full, or as ::ffff:127.x.y.z).
bool is_loopback_host(std::string_view host);

// An absolute path, lexically normalised ("/a/./b/../c/" -> "/a/c").
Parsed<std::filesystem::path> parse_absolute_path(std::string_view text);
// True when a == b or one lies inside the other; both absolute and normalised.
bool paths_overlap(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace pnsync::config::detail
