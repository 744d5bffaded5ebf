// SPDX-License-Identifier: MIT
#include "daemon/net/http_policy.hpp"

#include <catch2/catch.hpp>
// Only for the CURLE_* names: the rows below check the policy's mirrored numbers against them.
#include <curl/curl.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

using pnsync::BackoffParams;
using pnsync::classify;
using pnsync::ContentRange;
using pnsync::format_imf_fixdate;
using pnsync::parse_content_range;
using pnsync::parse_imf_fixdate;
using pnsync::parse_retry_after;
using pnsync::resume_decision;
using pnsync::ResumeAction;
using pnsync::retry_delay;
using pnsync::Verdict;
using namespace std::chrono_literals;

namespace Catch {
template <>
struct StringMaker<Verdict> {
  static std::string convert(Verdict v) { return std::string(pnsync::to_string(v)); }
};
template <>
struct StringMaker<ResumeAction> {
  static std::string convert(ResumeAction a) {
    switch (a) {
      case ResumeAction::Append:
        return "Append";
      case ResumeAction::Restart:
        return "Restart";
      case ResumeAction::Complete:
        return "Complete";
      case ResumeAction::Discard:
        return "Discard";
    }
    return "?";
  }
};
}  // namespace Catch

// ---------------------------------------------------------------------------------------------
// classify

TEST_CASE("classify: what each outcome means for the mirror", "[http_policy][classify]") {
  auto [code, status, retry_after, verdict] = GENERATE(table<int, long, bool, Verdict>({
      // Success
      {CURLE_OK, 200, false, Verdict::Success},
      {CURLE_OK, 206, false, Verdict::Success},
      {CURLE_OK, 204, false, Verdict::Success},
      {CURLE_OK, 304, false, Verdict::Success},  // the caller's own If-Modified-Since
      // Bad password stops at once, whatever else happens: accounts get locked.
      {CURLE_OK, 401, false, Verdict::AuthFailed},
      {CURLE_OK, 401, true, Verdict::AuthFailed},
      {CURLE_HTTP_RETURNED_ERROR, 401, false, Verdict::AuthFailed},
      {CURLE_RECV_ERROR, 401, false, Verdict::AuthFailed},
      {CURLE_PARTIAL_FILE, 401, false, Verdict::AuthFailed},
      {CURLE_LOGIN_DENIED, 0, false, Verdict::AuthFailed},
      // Valid login, no access to this version (or a UA the server does not accept).
      {CURLE_OK, 403, false, Verdict::AccessDenied},
      {CURLE_HTTP_RETURNED_ERROR, 403, false, Verdict::AccessDenied},
      {CURLE_RECV_ERROR, 403, false, Verdict::AccessDenied},
      // This file failed, the mirror goes on.
      {CURLE_OK, 404, false, Verdict::NotFound},
      {CURLE_OK, 410, false, Verdict::NotFound},
      {CURLE_HTTP_RETURNED_ERROR, 404, false, Verdict::NotFound},
      // Transient statuses; Retry-After only where the host must honour it.
      {CURLE_OK, 408, false, Verdict::Retry},
      {CURLE_OK, 425, false, Verdict::Retry},
      {CURLE_OK, 429, false, Verdict::Retry},
      {CURLE_OK, 429, true, Verdict::RetryAfter},
      {CURLE_HTTP_RETURNED_ERROR, 429, true, Verdict::RetryAfter},
      {CURLE_OK, 500, false, Verdict::Retry},
      {CURLE_OK, 500, true, Verdict::Retry},
      {CURLE_OK, 502, false, Verdict::Retry},
      {CURLE_OK, 503, false, Verdict::Retry},
      {CURLE_OK, 503, true, Verdict::RetryAfter},
      {CURLE_HTTP_RETURNED_ERROR, 503, true, Verdict::RetryAfter},
      {CURLE_OK, 504, false, Verdict::Retry},
      {CURLE_OK, 507, false, Verdict::Retry},
      {CURLE_RECV_ERROR, 503, true, Verdict::RetryAfter},
      // Other 4xx and the 5xx that describe a permanent mismatch.
      {CURLE_OK, 400, false, Verdict::Fatal},
      {CURLE_OK, 405, false, Verdict::Fatal},
      {CURLE_OK, 416, false, Verdict::Fatal},  // resume_decision() reads 416 first
      {CURLE_OK, 451, false, Verdict::Fatal},
      {CURLE_HTTP_RETURNED_ERROR, 400, false, Verdict::Fatal},
      {CURLE_OK, 501, false, Verdict::Fatal},
      {CURLE_OK, 505, false, Verdict::Fatal},
      {CURLE_OK, 511, false, Verdict::Fatal},
      // Nonsense: a final 1xx or unfollowed 3xx, no status at all, out of range.
      {CURLE_OK, 100, false, Verdict::Fatal},
      {CURLE_OK, 302, false, Verdict::Fatal},
      {CURLE_OK, 0, false, Verdict::Fatal},
      {CURLE_OK, 99, false, Verdict::Fatal},
      {CURLE_OK, 600, false, Verdict::Fatal},
      {CURLE_HTTP_RETURNED_ERROR, 0, false, Verdict::Fatal},
      {CURLE_HTTP_RETURNED_ERROR, 200, false, Verdict::Fatal},  // inconsistent
      // Resets, time-outs, stalls and short bodies.
      {CURLE_COULDNT_RESOLVE_HOST, 0, false, Verdict::Retry},
      {CURLE_COULDNT_RESOLVE_PROXY, 0, false, Verdict::Retry},
      {CURLE_COULDNT_CONNECT, 0, false, Verdict::Retry},
      {CURLE_WEIRD_SERVER_REPLY, 0, false, Verdict::Retry},
      {CURLE_HTTP2, 0, false, Verdict::Retry},
      {CURLE_HTTP2_STREAM, 200, false, Verdict::Retry},
      {CURLE_PARTIAL_FILE, 200, false, Verdict::Retry},
      {CURLE_PARTIAL_FILE, 206, false, Verdict::Retry},
      {CURLE_OPERATION_TIMEDOUT, 0, false, Verdict::Retry},
      {CURLE_OPERATION_TIMEDOUT, 200, false, Verdict::Retry},
      {CURLE_RANGE_ERROR, 200, false, Verdict::Retry},
      {CURLE_SSL_CONNECT_ERROR, 0, false, Verdict::Retry},  // handshake reset, not verification
      {CURLE_ABORTED_BY_CALLBACK, 200, false, Verdict::Retry},
      {CURLE_GOT_NOTHING, 0, false, Verdict::Retry},
      {CURLE_SEND_ERROR, 0, false, Verdict::Retry},
      {CURLE_RECV_ERROR, 0, false, Verdict::Retry},
      {CURLE_RECV_ERROR, 206, false, Verdict::Retry},
      {CURLE_RECV_ERROR, 302, false, Verdict::Retry},
      {CURLE_NO_CONNECTION_AVAILABLE, 0, false, Verdict::Retry},
      // TLS verification fails closed, whatever the status says.
      {CURLE_PEER_FAILED_VERIFICATION, 0, false, Verdict::Fatal},
      {CURLE_PEER_FAILED_VERIFICATION, 200, false, Verdict::Fatal},
      {CURLE_SSL_CACERT_BADFILE, 0, false, Verdict::Fatal},
      {CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0, false, Verdict::Fatal},
      {CURLE_SSL_INVALIDCERTSTATUS, 0, false, Verdict::Fatal},
      {CURLE_SSL_ISSUER_ERROR, 0, false, Verdict::Fatal},
      {CURLE_SSL_CRL_BADFILE, 0, false, Verdict::Fatal},
      // Local trouble is the engine's to handle, not a reason to hammer the server.
      {CURLE_WRITE_ERROR, 200, false, Verdict::Fatal},
      {CURLE_WRITE_ERROR, 206, false, Verdict::Fatal},
      {CURLE_OUT_OF_MEMORY, 0, false, Verdict::Fatal},
      {CURLE_FILESIZE_EXCEEDED, 200, false, Verdict::Fatal},
      {CURLE_TOO_MANY_REDIRECTS, 302, false, Verdict::Fatal},
      {CURLE_URL_MALFORMAT, 0, false, Verdict::Fatal},
      {CURLE_UNSUPPORTED_PROTOCOL, 0, false, Verdict::Fatal},
      {CURLE_BAD_CONTENT_ENCODING, 200, false, Verdict::Fatal},
      {CURLE_BAD_DOWNLOAD_RESUME, 0, false, Verdict::Fatal},
      // Codes this policy does not know fail closed.
      {-1, 200, false, Verdict::Fatal},
      {12345, 200, false, Verdict::Fatal},
      {CURL_LAST, 200, false, Verdict::Fatal},
  }));
  CAPTURE(code, status, retry_after);
  CHECK(classify(code, status, retry_after) == verdict);
}

TEST_CASE("classify: the stable numbers the brief names are curl.h's", "[http_policy][classify]") {
  // If libcurl ever renumbered (it never has), the mirror table in http_policy.cpp would be wrong.
  STATIC_REQUIRE(CURLE_OK == 0);
  STATIC_REQUIRE(CURLE_COULDNT_RESOLVE_HOST == 6);
  STATIC_REQUIRE(CURLE_COULDNT_CONNECT == 7);
  STATIC_REQUIRE(CURLE_HTTP2 == 16);
  STATIC_REQUIRE(CURLE_PARTIAL_FILE == 18);
  STATIC_REQUIRE(CURLE_HTTP_RETURNED_ERROR == 22);
  STATIC_REQUIRE(CURLE_WRITE_ERROR == 23);
  STATIC_REQUIRE(CURLE_OPERATION_TIMEDOUT == 28);
  STATIC_REQUIRE(CURLE_RANGE_ERROR == 33);
  STATIC_REQUIRE(CURLE_SSL_CONNECT_ERROR == 35);
  STATIC_REQUIRE(CURLE_ABORTED_BY_CALLBACK == 42);
  STATIC_REQUIRE(CURLE_GOT_NOTHING == 52);
  STATIC_REQUIRE(CURLE_SEND_ERROR == 55);
  STATIC_REQUIRE(CURLE_RECV_ERROR == 56);
  STATIC_REQUIRE(CURLE_PEER_FAILED_VERIFICATION == 60);
  STATIC_REQUIRE(CURLE_SSL_CACERT_BADFILE == 77);
  STATIC_REQUIRE(CURLE_HTTP2_STREAM == 92);
}

TEST_CASE("classify: no curl error is ever a success", "[http_policy][classify]") {
  for (int code = 0; code <= CURL_LAST; ++code) {
    for (const long status : {0L, 200L, 206L, 304L}) {
      CAPTURE(code, status);
      if (classify(code, status, false) == Verdict::Success) CHECK(code == CURLE_OK);
    }
  }
}

TEST_CASE("to_string names every verdict", "[http_policy]") {
  CHECK(pnsync::to_string(Verdict::Success) == "success");
  CHECK(pnsync::to_string(Verdict::Retry) == "retry");
  CHECK(pnsync::to_string(Verdict::RetryAfter) == "retry-after");
  CHECK(pnsync::to_string(Verdict::AuthFailed) == "auth-failed");
  CHECK(pnsync::to_string(Verdict::AccessDenied) == "access-denied");
  CHECK(pnsync::to_string(Verdict::NotFound) == "not-found");
  CHECK(pnsync::to_string(Verdict::Fatal) == "fatal");
}

// ---------------------------------------------------------------------------------------------
// parse_retry_after

namespace {

// Wed, 21 Oct 2015 07:28:00 GMT
const std::chrono::system_clock::time_point kNow =
    std::chrono::sys_days{std::chrono::year{2015} / 10 / 21} + 7h + 28min;

constexpr std::int64_t kMaxSeconds = INT64_MAX / 1000;

}  // namespace

TEST_CASE("parse_retry_after: delta-seconds and the three HTTP-date forms",
          "[http_policy][retry_after]") {
  auto [value, seconds] = GENERATE(table<std::string_view, std::optional<std::int64_t>>({
      {"120", 120},
      {"0", 0},
      {"007", 7},
      {" 30\t", 30},                             // optional whitespace around the field value
      {"99999999999999999999999", kMaxSeconds},  // saturates, never overflows
      {"", std::nullopt},
      {"   ", std::nullopt},
      {"-1", std::nullopt},
      {"+5", std::nullopt},
      {"1.5", std::nullopt},
      {"5s", std::nullopt},
      {"1 2", std::nullopt},
      {"soon", std::nullopt},
      // IMF-fixdate
      {"Wed, 21 Oct 2015 07:28:00 GMT", 0},
      {"Wed, 21 Oct 2015 07:30:00 GMT", 120},
      {"Thu, 22 Oct 2015 07:28:00 GMT", 86400},
      {"Wed, 21 Oct 2015 07:00:00 GMT", 0},  // in the past
      {"Sun, 06 Nov 1994 08:49:37 GMT", 0},
      {"Thu, 31 Dec 2015 23:59:60 GMT", 6193920},  // leap second: 2016-01-01 00:00:00
      {"wed, 21 oct 2015 07:30:00 GMT", 120},      // names are matched leniently
      {"Wed, 32 Oct 2015 07:28:00 GMT", std::nullopt},
      {"Wed, 29 Feb 2015 07:28:00 GMT", std::nullopt},
      {"Wed, 21 Foo 2015 07:28:00 GMT", std::nullopt},
      {"Wed, 21 Oct 2015 24:00:00 GMT", std::nullopt},
      {"Wed, 21 Oct 2015 07:28:00 UTC", std::nullopt},
      {"Wed, 21 Oct 2015 07:28:00", std::nullopt},
      {"Wed, 21 Oct 15 07:28:00 GMT", std::nullopt},
      {"Wed, 1 Oct 2015 07:28:00 GMT", std::nullopt},
      {"Xyz, 21 Oct 2015 07:28:00 GMT", std::nullopt},
      {"Wed 21 Oct 2015 07:28:00 GMT", std::nullopt},
      {"Wed, 21 Oct 2015 7:28:00 GMT", std::nullopt},
      // RFC 850 (obsolete); a two-digit year is never more than 50 years ahead
      {"Wednesday, 21-Oct-15 07:29:00 GMT", 60},
      {"Sunday, 06-Nov-94 08:49:37 GMT", 0},
      {"Wednesday, 21-Oct-2015 07:29:00 GMT", std::nullopt},
      {"Wed, 21-Oct-15 07:29:00 GMT", std::nullopt},
      // asctime (obsolete)
      {"Wed Oct 21 07:28:30 2015", 30},
      {"Sun Nov  1 00:00:00 2015", 923520},  // the day padded with a space
      {"Sun Nov  6 08:49:37 1994", 0},
      {"Wed Oct 21 07:28:30", std::nullopt},
      {"Wed Oct 32 07:28:30 2015", std::nullopt},
  }));
  CAPTURE(value);
  const auto got = parse_retry_after(value, kNow);
  if (seconds) {
    REQUIRE(got.has_value());
    CHECK(got->count() == *seconds);
  } else {
    CHECK_FALSE(got.has_value());
  }
}

TEST_CASE("format_imf_fixdate writes what parse_imf_fixdate reads, within years 1-9999",
          "[http_policy][imf_fixdate]") {
  auto [seconds, text] = GENERATE(table<std::int64_t, std::optional<std::string>>({
      {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
      {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},  // RFC 9110's example
      {1445412480, "Wed, 21 Oct 2015 07:28:00 GMT"},
      {1704462300, "Fri, 05 Jan 2024 13:45:00 GMT"},
      {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},  // a leap day
      {-1, "Wed, 31 Dec 1969 23:59:59 GMT"},         // before the epoch: the day before
      {-62135596800, "Mon, 01 Jan 0001 00:00:00 GMT"},
      {253402300799, "Fri, 31 Dec 9999 23:59:59 GMT"},
      {-62135596801, std::nullopt},
      {253402300800, std::nullopt},
      {INT64_MIN, std::nullopt},
      {INT64_MAX, std::nullopt},
  }));
  CAPTURE(seconds);
  CHECK(format_imf_fixdate(seconds) == text);
  if (text) CHECK(parse_imf_fixdate(*text) == seconds);
}

TEST_CASE("parse_retry_after rounds up and does not overflow far dates",
          "[http_policy][retry_after]") {
  SECTION("a fraction of a second is waited out in full") {
    const auto now = kNow + 500ms;
    CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now) == 10s);
    CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0s);
  }
  SECTION("year 9999 is beyond system_clock's nanosecond range but still a number") {
    using namespace std::chrono;
    const sys_seconds far = sys_days{year{9999} / 12 / 31} + 23h + 59min + 59s;
    const auto expected = far - floor<seconds>(kNow);
    CHECK(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", kNow) == expected);
  }
  SECTION("a two-digit year more than 50 years ahead is in the past century") {
    // From 2015, "64" would be 2064 (49 years ahead: kept) and "66" 2066 (51: taken as 1966).
    CHECK(parse_retry_after("Tuesday, 21-Oct-64 07:28:00 GMT", kNow) > 0s);
    CHECK(parse_retry_after("Thursday, 21-Oct-66 07:28:00 GMT", kNow) == 0s);
  }
}

// ---------------------------------------------------------------------------------------------
// retry_delay

TEST_CASE("retry_delay: capped exponential backoff, jittered within [d/2, d]",
          "[http_policy][retry_delay]") {
  const BackoffParams params{1000ms, 300000ms};
  auto [attempt, low, high] = GENERATE(table<int, std::int64_t, std::int64_t>({
      {1, 500, 1000},
      {2, 1000, 2000},
      {3, 2000, 4000},
      {4, 4000, 8000},
      {9, 128000, 256000},
      {10, 150000, 300000},  // 512 s capped at the 300 s ceiling
      {11, 150000, 300000},
      {63, 150000, 300000},
      {64, 150000, 300000},  // 2^63 would overflow
      {1000, 150000, 300000},
      {INT_MAX, 150000, 300000},
      {0, 500, 1000},  // nonsense attempts count as the first
      {-7, 500, 1000},
      {INT_MIN, 500, 1000},
  }));
  CAPTURE(attempt);
  std::mt19937_64 rng(0x5eed);
  std::int64_t seen_min = INT64_MAX;
  std::int64_t seen_max = INT64_MIN;
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t d = retry_delay(attempt, params, std::nullopt, rng).count();
    seen_min = std::min(seen_min, d);
    seen_max = std::max(seen_max, d);
  }
  CHECK(seen_min >= low);
  CHECK(seen_max <= high);
  // Jitter really spreads retries: 2000 draws land near both ends.
  const std::int64_t tenth = (high - low) / 10;
  CHECK(seen_min < low + tenth);
  CHECK(seen_max > high - tenth);
}

TEST_CASE("retry_delay: Retry-After is a floor, never a ceiling", "[http_policy][retry_delay]") {
  const BackoffParams params{1000ms, 300000ms};
  auto [attempt, retry_after, low, high] =
      GENERATE(table<int, std::optional<std::chrono::seconds>, std::int64_t, std::int64_t>({
          {1, std::nullopt, 500, 1000},
          {1, 0s, 500, 1000},
          {1, -5s, 500, 1000},           // a negative floor is no floor
          {1, 120s, 120000, 120000},     // above the backoff: exactly the floor
          {1, 3600s, 3600000, 3600000},  // above the ceiling too: still honoured
          {10, 1s, 150000, 300000},      // below the backoff: no effect
          {10, 200s, 200000, 300000},    // inside the range: raises the low end
          {1, std::chrono::seconds{kMaxSeconds}, INT64_MAX / 1000 * 1000, INT64_MAX},
          {1, std::chrono::seconds::max(), INT64_MAX, INT64_MAX},  // saturates
      }));
  CAPTURE(attempt, retry_after);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) {
    const std::int64_t d = retry_delay(attempt, params, retry_after, rng).count();
    CHECK(d >= low);
    CHECK(d <= high);
  }
}

TEST_CASE("retry_delay: odd parameters stay within bounds", "[http_policy][retry_delay]") {
  auto [base, ceiling, attempt, low, high] =
      GENERATE(table<std::int64_t, std::int64_t, int, std::int64_t, std::int64_t>({
          {0, 300000, 1, 0, 0},
          {0, 300000, INT_MAX, 0, 0},
          {1000, 0, 5, 0, 0},
          {1000, 700, 1, 350, 700},  // ceiling below base
          {-1000, 300000, 3, 0, 0},
          {1000, -1, 3, 0, 0},
          {INT64_MAX, INT64_MAX, 1, INT64_MAX / 2, INT64_MAX},
          {INT64_MAX / 2 + 1, INT64_MAX, 2, INT64_MAX / 2, INT64_MAX},
          {1, INT64_MAX, INT_MAX, INT64_MAX / 2, INT64_MAX},
          {1, 1, 1, 0, 1},
      }));
  CAPTURE(base, ceiling, attempt);
  const BackoffParams params{std::chrono::milliseconds{base}, std::chrono::milliseconds{ceiling}};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const std::int64_t d = retry_delay(attempt, params, std::nullopt, rng).count();
    CHECK(d >= low);
    CHECK(d <= high);
  }
}

TEST_CASE("retry_delay is reproducible from a seed", "[http_policy][retry_delay]") {
  const BackoffParams params;
  std::mt19937_64 a(2024);
  std::mt19937_64 b(2024);
  for (int attempt = 1; attempt <= 20; ++attempt) {
    CHECK(retry_delay(attempt, params, std::nullopt, a) ==
          retry_delay(attempt, params, std::nullopt, b));
  }
}

// ---------------------------------------------------------------------------------------------
// parse_content_range

TEST_CASE("parse_content_range", "[http_policy][content_range]") {
  using Range = std::optional<std::tuple<std::int64_t, std::int64_t, std::optional<std::int64_t>>>;
  auto [value, expected] = GENERATE(table<std::string_view, Range>({
      {"bytes 100-199/1000", Range{{100, 199, 1000}}},
      {"bytes 100-199/*", Range{{100, 199, std::nullopt}}},
      {"bytes */1000", Range{{-1, -1, 1000}}},
      {"bytes */0", Range{{-1, -1, 0}}},
      {"bytes 0-0/1", Range{{0, 0, 1}}},
      {"bytes 0-999/1000", Range{{0, 999, 1000}}},
      {"Bytes 0-9/10", Range{{0, 9, 10}}},  // the unit is case-insensitive
      {" bytes 0-9/10 ", Range{{0, 9, 10}}},
      {"bytes 0-9223372036854775806/9223372036854775807", Range{{0, INT64_MAX - 1, INT64_MAX}}},
      {"", std::nullopt},
      {"bytes", std::nullopt},
      {"bytes ", std::nullopt},
      {"bytes=0-9/10", std::nullopt},
      {"bytes  0-9/10", std::nullopt},
      {"items 0-9/10", std::nullopt},
      {"bytes 200-100/1000", std::nullopt},   // first after last
      {"bytes 100-1000/1000", std::nullopt},  // last beyond the length
      {"bytes 0-0/0", std::nullopt},
      {"bytes */*", std::nullopt},
      {"bytes 1-2", std::nullopt},
      {"bytes 1-/3", std::nullopt},
      {"bytes -1-2/3", std::nullopt},
      {"bytes 1-2/", std::nullopt},
      {"bytes a-b/c", std::nullopt},
      {"bytes 1-2/3 4", std::nullopt},
      {"bytes 0-9/99999999999999999999", std::nullopt},  // overflow
      {"bytes 99999999999999999999-99999999999999999999/*", std::nullopt},
  }));
  CAPTURE(value);
  const auto got = parse_content_range(value);
  REQUIRE(got.has_value() == expected.has_value());
  if (got) {
    CHECK(got->first == std::get<0>(*expected));
    CHECK(got->last == std::get<1>(*expected));
    CHECK(got->total == std::get<2>(*expected));
  }
}

// ---------------------------------------------------------------------------------------------
// resume_decision

TEST_CASE("resume_decision: the answer to \"Range: bytes=<local_size>-\"",
          "[http_policy][resume]") {
  // The Content-Range header as received ("" when absent), so both halves are tested together.
  auto [local_size, status, header, action] =
      GENERATE(table<std::int64_t, long, std::string_view, ResumeAction>({
          {100, 206, "bytes 100-999/1000", ResumeAction::Append},
          {100, 206, "bytes 100-199/*", ResumeAction::Append},
          {0, 206, "bytes 0-99/100", ResumeAction::Append},
          {100, 206, "bytes 0-999/1000", ResumeAction::Restart},    // starts elsewhere
          {100, 206, "bytes 150-999/1000", ResumeAction::Restart},  // would leave a hole
          {100, 206, "bytes 99-999/1000", ResumeAction::Restart},
          {100, 206, "", ResumeAction::Restart},  // no Content-Range
          {100, 206, "garbage", ResumeAction::Restart},
          {100, 206, "bytes */1000", ResumeAction::Restart},
          {100, 200, "", ResumeAction::Restart},  // range ignored
          {100, 200, "bytes 100-999/1000", ResumeAction::Restart},
          {1000, 416, "bytes */1000", ResumeAction::Complete},
          {0, 416, "bytes */0", ResumeAction::Complete},  // empty file, already had
          {999, 416, "bytes */1000", ResumeAction::Discard},
          {1001, 416, "bytes */1000", ResumeAction::Discard},  // local file is too long
          {1000, 416, "", ResumeAction::Discard},
          {1000, 416, "bytes 0-9/1000", ResumeAction::Discard},
          {100, 404, "", ResumeAction::Discard},  // not an answer to a range
          {100, 500, "", ResumeAction::Discard},
      }));
  CAPTURE(local_size, status, header);
  const auto range = header.empty() ? std::nullopt : parse_content_range(header);
  CHECK(resume_decision(local_size, status, range) == action);
}

TEST_CASE("resume_decision on hand-made ranges", "[http_policy][resume]") {
  CHECK(resume_decision(5, 206, ContentRange{5, 9, 10}) == ResumeAction::Append);
  CHECK(resume_decision(-1, 206, ContentRange{-1, -1, 10}) == ResumeAction::Restart);
  CHECK(resume_decision(10, 416, ContentRange{-1, -1, std::nullopt}) == ResumeAction::Discard);
}
