// SPDX-License-Identifier: MIT
// The pure value parsers behind the config loader.
#include "config/values.hpp"

#include <catch2/catch.hpp>

#include <array>

using namespace pnsync::config::detail;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE("durations: accepted forms", "[config][values]") {
  const DurationRule with_ms{.min = 1ms, .allow_ms = true};
  auto [text, expected] = GENERATE(table<std::string, std::int64_t>({
      {"90s", 90'000},
      {"15m", 900'000},
      {"24h", 86'400'000},
      {"7d", 604'800'000},
      {"500ms", 500},
      {"60", 60'000},  // bare integer: seconds
      {"0001s", 1'000},
      {"365d", 31'536'000'000},
  }));
  INFO(text);
  const auto parsed = parse_duration(text, with_ms);
  REQUIRE(parsed.value);
  CHECK(parsed.value->count() == expected);
  CHECK(parsed.error.empty());
}

TEST_CASE("durations: refused forms", "[config][values]") {
  const DurationRule seconds_only{.min = 1s};
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"", "must be a duration such as 90s, 15m, 24h or 7d, got \"\""},
      {"s", "must be a duration such as"},
      {"1.5h", "must be a duration such as"},
      {"10y", "must be a duration such as"},
      {"5 s", "must be a duration such as"},
      {" 5s", "must be a duration such as"},
      {"5S", "must be a duration such as"},
      {"+5s", "must be a duration such as"},
      {"-5s", "must not be negative, got \"-5s\""},
      {"0s", "must be at least 1s, got \"0s\""},
      {"0", "must be at least 1s"},
      {"500ms", "milliseconds are not allowed here (use s, m, h or d), got \"500ms\""},
      {"366d", "must be at most 365d, got \"366d\""},
      {"99999999999999999999999s", "must be at most 365d"},
      {"9223372036854775807d", "must be at most 365d"},
  }));
  INFO(text);
  const auto parsed = parse_duration(text, seconds_only);
  CHECK_FALSE(parsed.value);
  CHECK_THAT(parsed.error, Contains(expected));
}

TEST_CASE("durations: minimum below a second when ms are allowed", "[config][values]") {
  const DurationRule rule{.min = 1ms, .allow_ms = true};
  CHECK(parse_duration("1ms", rule).value == 1ms);
  CHECK_THAT(parse_duration("0ms", rule).error, Contains("must be at least 1ms"));
  CHECK_THAT(parse_duration("5x", rule).error, Contains("(or 500ms)"));
}

TEST_CASE("durations: formatting picks the largest exact unit", "[config][values]") {
  CHECK(duration_setting(300'000ms) == "5m");
  CHECK(duration_setting(1'000ms) == "1s");
  CHECK(duration_setting(1'500ms) == "1500ms");
  CHECK(duration_setting(86'400'000ms) == "1d");
  CHECK(duration_setting(90'000ms) == "90s");
  CHECK(duration_setting(0ms) == "0s");
}

TEST_CASE("integers: only plain decimal digits in range", "[config][values]") {
  CHECK(parse_int("8", 1, 256).value == 8);
  CHECK(parse_int("256", 1, 256).value == 256);
  CHECK(parse_int("08", 1, 256).value == 8);
  for (const char* bad : {"0", "257", "x", "", "8.0", "0x10", "+8", " 8", "8 ", "-1", "1e2",
                          "99999999999999999999999"}) {
    INFO(bad);
    const auto parsed = parse_int(bad, 1, 256);
    CHECK_FALSE(parsed.value);
    CHECK_THAT(parsed.error, Contains("must be 1..256, got \""));
  }
}

TEST_CASE("origins: scheme://host[:port] only", "[config][values]") {
  SECTION("accepted and normalised") {
    auto [text, expected] = GENERATE(table<std::string, std::string>({
        {"https://physionet.org", "https://physionet.org"},
        {"https://physionet.org/", "https://physionet.org"},
        {"HTTPS://PhysioNet.ORG", "https://physionet.org"},
        {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
        {"http://[::1]:443/", "http://[::1]:443"},
        {"https://mirror.example:8443", "https://mirror.example:8443"},
    }));
    INFO(text);
    const auto parsed = parse_origin(text);
    REQUIRE(parsed.value);
    CHECK(parsed.value->text() == expected);
  }
  SECTION("refused") {
    auto [text, expected] = GENERATE(table<std::string, std::string>({
        {"physionet.org", "must be an origin such as https://physionet.org"},
        {"ftp://physionet.org", "must start with https:// (or http:// for a loopback host)"},
        {"https://", "must be an origin such as"},
        {"https://physionet.org/files", "without a path, query or fragment"},
        {"https://physionet.org?x=1", "without a path, query or fragment"},
        {"https://physionet.org#x", "without a path, query or fragment"},
        {"https://physionet.org//", "without a path, query or fragment"},
        {"https://physionet.org:", "invalid port"},
        {"https://physionet.org:0", "invalid port"},
        {"https://physionet.org:65536", "invalid port"},
        {"https://physionet.org:8x", "invalid port"},
        {"https://[::1", "must be an origin such as"},
        {"https://[nothex]", "invalid IPv6 address"},
        {"https://[::1]x", "must be an origin such as"},
        {"https://a b.org", "must be an origin such as"},
        {"https://::1", "must be an origin such as"},
    }));
    INFO(text);
    const auto parsed = parse_origin(text);
    CHECK_FALSE(parsed.value);
    CHECK_THAT(parsed.error, Contains(expected));
  }
  SECTION("user info is refused without being echoed") {
    const auto parsed = parse_origin("https://jdoe:hunter2@physionet.org");
    CHECK_FALSE(parsed.value);
    CHECK_THAT(parsed.error, Contains("must not contain user info"));
    CHECK_THAT(parsed.error, !Contains("hunter2"));
  }
}

TEST_CASE("loopback hosts", "[config][values]") {
  for (const char* host : {"localhost", "LocalHost", "127.0.0.1", "127.255.0.9", "::1",
                           "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
    INFO(host);
    CHECK(is_loopback_host(host));
  }
  for (const char* host : {"physionet.org", "128.0.0.1", "10.0.0.1", "::2", "::ffff:10.0.0.1",
                           "127.1", "localhost.example", "", "0.0.0.0"}) {
    INFO(host);
    CHECK_FALSE(is_loopback_host(host));
  }
}

TEST_CASE("absolute paths are normalised, and overlap is by whole components", "[config][values]") {
  CHECK(parse_absolute_path("/data/./x/../y/").value == std::filesystem::path("/data/y"));
  CHECK(parse_absolute_path("/data//y").value == std::filesystem::path("/data/y"));
  CHECK(parse_absolute_path("/").value == std::filesystem::path("/"));
  CHECK_THAT(parse_absolute_path("rel/x").error,
             Contains("must be an absolute path, got \"rel/x\""));
  CHECK_THAT(parse_absolute_path("").error, Contains("must not be empty"));
  CHECK_THAT(parse_absolute_path(std::string("/a\0b", 4)).error, Contains("NUL"));

  CHECK(paths_overlap("/data/a", "/data/a"));
  CHECK(paths_overlap("/data/a", "/data/a/b"));
  CHECK(paths_overlap("/data/a/b", "/data/a"));
  CHECK(paths_overlap("/", "/data"));
  CHECK_FALSE(paths_overlap("/data/a", "/data/ab"));
  CHECK_FALSE(paths_overlap("/data/a", "/data/b"));
}

TEST_CASE("did-you-mean by edit distance <= 2", "[config][values]") {
  constexpr std::array<std::string_view, 4> keys{"transfers", "max_attempts", "retry_max",
                                                 "retry_base"};
  CHECK(suggest("tranfers", keys) == "transfers");
  CHECK(suggest("trasnfers", keys) == "transfers");  // a swap counts once
  CHECK(suggest("Transfers", keys) == "transfers");  // case does not count
  CHECK(suggest("retry_mx", keys) == "retry_max");
  CHECK(suggest("max_attempt", keys) == "max_attempts");
  CHECK_FALSE(suggest("banana", keys));
  CHECK_FALSE(suggest("transfersxyz", keys));
}

TEST_CASE("quote keeps a message on one line", "[config][values]") {
  CHECK(quote("x") == "\"x\"");
  CHECK(quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(quote("a\nb\tc\r") == "\"a\\nb\\tc\\x0d\"");
  const std::string long_text(500, 'x');
  CHECK(quote(long_text).size() < 130);
  CHECK_THAT(quote(long_text), Catch::EndsWith("\"..."));
}

TEST_CASE("rates: binary units, read back by rate_setting", "[config][values]") {
  auto [text, expected] = GENERATE(table<std::string, std::int64_t>({
      {"0", 0},
      {"1000", 1000},
      {"512K", 512 * 1024},
      {"50M", 50 * 1024 * 1024},
      {"50m", 50 * 1024 * 1024},
      {"50MiB", 50 * 1024 * 1024},
      {"50MB", 50 * 1024 * 1024},
      {"2G", std::int64_t{2} << 30},
      {"1024G", std::int64_t{1} << 40},
  }));
  INFO(text);
  const auto parsed = parse_rate(text);
  REQUIRE(parsed.value);
  CHECK(*parsed.value == expected);
  CHECK(parse_rate(rate_setting(expected)).value == expected);
}

TEST_CASE("rates: refused forms", "[config][values]") {
  for (const char* text :
       {"", "M", "-5M", "1.5M", "5 M", "5T", "5Mbit", "1025G", "99999999999999999999"}) {
    INFO(text);
    CHECK_FALSE(parse_rate(text).value);
  }
}

TEST_CASE("modes: octal up to 07777", "[config][values]") {
  CHECK(parse_mode("0640").value == 0640u);
  CHECK(parse_mode("2750").value == 02750u);
  CHECK(parse_mode("640").value == 0640u);
  for (const char* text : {"", "0648", "17777", "rw-r-----", "-640", "064000"}) {
    INFO(text);
    CHECK_FALSE(parse_mode(text).value);
  }
}

TEST_CASE("listen addresses: host:port, IPv6 in brackets", "[config][values]") {
  auto v4 = parse_listen_address("127.0.0.1:9464");
  REQUIRE(v4.value);
  CHECK(v4.value->host == "127.0.0.1");
  CHECK(v4.value->port == 9464);
  auto v6 = parse_listen_address("[::1]:9100");
  REQUIRE(v6.value);
  CHECK(v6.value->host == "::1");
  CHECK(v6.value->port == 9100);
  for (const char* text : {"9464", ":9464", "host:", "host:0", "host:65536", "::1:9464", "a b:1"}) {
    INFO(text);
    CHECK_FALSE(parse_listen_address(text).value);
  }
}
