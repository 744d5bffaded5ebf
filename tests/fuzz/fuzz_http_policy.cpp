// SPDX-License-Identifier: MIT
// The header parsers (Content-Range, Retry-After, Last-Modified) on arbitrary bytes, and the
// decisions that take their results (resume_decision, retry_delay, classify) on numbers drawn
// from the same bytes: no crash, no undefined behaviour (overflow included), results in range.
#include "daemon/net/http_policy.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

// 0001-01-01T00:00:00Z and 9999-12-31T23:59:60Z, the years an HTTP-date can name.
constexpr std::int64_t kFirstSecond = -62135596800;
constexpr std::int64_t kLastSecond = 253402300800;
constexpr std::int64_t kMaxDelaySeconds = std::numeric_limits<std::int64_t>::max() / 1000;

// "Sun, 06 Nov 1994 08:49:37 GMT" for `at`.
std::string format_imf_fixdate(std::int64_t at) {
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::chrono::sys_seconds time{seconds{at}};
  const auto day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss clock{time - day};
  const std::int64_t day_number = day.time_since_epoch().count();
  const auto weekday = static_cast<std::size_t>(((day_number % 7) + 7) % 7);  // 1970-01-01: Thu
  char text[64];
  std::snprintf(text, sizeof text, "%s, %02u %s %04d %02d:%02d:%02d GMT", kDays[weekday],
                static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(clock.hours().count()),
                static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return text;
}

void check_content_range(std::string_view text) {
  const auto range = pnsync::parse_content_range(text);
  if (!range) return;
  if (range->first < 0) {  // "bytes */N": 416's form, always with the length
    FUZZ_CHECK(range->first == -1 && range->last == -1);
    FUZZ_CHECK(range->total.has_value() && *range->total >= 0);
    return;
  }
  FUZZ_CHECK(range->first <= range->last);
  if (range->total) FUZZ_CHECK(range->last < *range->total);
}

void check_retry_after(std::string_view text, system_clock::time_point now) {
  const auto delay = pnsync::parse_retry_after(text, now);
  if (!delay) return;
  FUZZ_CHECK(delay->count() >= 0);
  FUZZ_CHECK(delay->count() <= kMaxDelaySeconds);
}

void check_imf_fixdate(std::string_view text) {
  const auto at = pnsync::parse_imf_fixdate(text);
  if (!at) return;
  FUZZ_CHECK(*at >= kFirstSecond && *at <= kLastSecond);
  // The date, written out again, means the same second. (The leap second at the very end,
  // 9999-12-31 23:59:60, is the one date that writes out as year 10000.)
  if (*at == kLastSecond) return;
  const auto again = pnsync::parse_imf_fixdate(format_imf_fixdate(*at));
  FUZZ_CHECK(again.has_value() && *again == *at);
}

void check_decisions(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const auto attempt = input.ConsumeIntegral<int>();
  pnsync::BackoffParams params;
  params.base = std::chrono::milliseconds{input.ConsumeIntegral<std::int64_t>()};
  params.ceiling = std::chrono::milliseconds{input.ConsumeIntegral<std::int64_t>()};
  std::optional<seconds> retry_after;
  if (input.ConsumeBool()) retry_after = seconds{input.ConsumeIntegral<std::int64_t>()};
  std::mt19937_64 rng(input.ConsumeIntegral<std::uint64_t>());
  const std::int64_t delay = pnsync::retry_delay(attempt, params, retry_after, rng).count();
  FUZZ_CHECK(delay >= 0);
  if (!retry_after) FUZZ_CHECK(delay <= std::max<std::int64_t>(0, params.ceiling.count()));

  const auto curl_code = input.ConsumeIntegral<int>();
  const auto status = input.ConsumeIntegral<long>();
  const pnsync::Verdict verdict = pnsync::classify(curl_code, status, input.ConsumeBool());
  FUZZ_CHECK(pnsync::to_string(verdict) != "unknown");
  FUZZ_CHECK(!pnsync::status_text(status).empty());

  const auto local_size = input.ConsumeIntegral<std::int64_t>();
  const auto range = pnsync::parse_content_range(input.ConsumeRemainingBytesAsString());
  const pnsync::ResumeAction action = pnsync::resume_decision(local_size, status, range);
  if (action == pnsync::ResumeAction::Append)
    FUZZ_CHECK(status == 206 && range && range->first == local_size);
  if (action == pnsync::ResumeAction::Complete)
    FUZZ_CHECK(status == 416 && range && range->total == local_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_content_range(text);
  check_imf_fixdate(text);
  // A now of today's kind, and the two ends of what system_clock's nanoseconds can hold.
  check_retry_after(text, system_clock::time_point{seconds{1'700'000'000}});
  check_retry_after(text, system_clock::time_point::min());
  check_retry_after(text, system_clock::time_point::max());
  check_decisions(data, size);
  return 0;
}
