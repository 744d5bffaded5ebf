// SPDX-License-Identifier: MIT
// Pure decisions about HTTP outcomes: what a response means, how long to wait before trying
// again, and what to do with a partial file when the server answers a range request.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace pnsync {

enum class Verdict {
  Success,       // 2xx
  Retry,         // transient: 5xx, resets, time-outs, stalls, short bodies
  RetryAfter,    // 429 or 503 with a Retry-After the host must honour
  AuthFailed,    // 401: stop the mirror at once, never retry (accounts get locked)
  AccessDenied,  // 403: stop the mirror, the user lacks access to this project version
  NotFound,      // 404/410: this file failed, go on
  Fatal,         // anything else that will not get better by retrying (TLS verify failure, 4xx)
};
std::string_view to_string(Verdict verdict);

// curl_code is a CURLcode value (0 = CURLE_OK); http_status is 0 when no response arrived.
// Kept free of curl's headers: the values are the stable numbers from curl/curl.h.
Verdict classify(int curl_code, long http_status, bool has_retry_after);

// "404 Not Found", with a hint of what the status means for PhysioNet where it helps.
std::string status_text(long http_status);

// Seconds since the epoch for an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the form nginx
// sends in Last-Modified. nullopt for anything else.
std::optional<std::int64_t> parse_imf_fixdate(std::string_view text);
// The IMF-fixdate for seconds since the epoch, as If-Modified-Since carries it; nullopt outside
// the years 0001-9999, which the form cannot write.
std::optional<std::string> format_imf_fixdate(std::int64_t seconds);

// Retry-After is either delta-seconds or an HTTP-date. nullopt when unparsable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

struct BackoffParams {
  std::chrono::milliseconds base{1000};
  std::chrono::milliseconds ceiling{300000};
};

// Capped exponential backoff with full jitter for attempt 1, 2, ...: a uniform draw in
// [d/2, d] where d = min(ceiling, base * 2^(attempt-1)). A Retry-After is a floor.
std::chrono::milliseconds retry_delay(int attempt, const BackoffParams& params,
                                      std::optional<std::chrono::seconds> retry_after,
                                      std::mt19937_64& rng);

// What a server's answer to "Range: bytes=<local_size>-" means for the partial file.
enum class ResumeAction {
  Append,    // 206 starting exactly at local_size: keep the prefix, append
  Restart,   // 200 (range ignored) or a 206 that starts elsewhere: truncate and take the body
  Complete,  // 416 and the server's total (Content-Range: bytes */N) equals local_size
  Discard,   // 416 and the sizes disagree: the partial file is wrong, start over
};

struct ContentRange {
  std::int64_t first = 0;
  std::int64_t last = 0;              // inclusive
  std::optional<std::int64_t> total;  // nullopt for "/*"
};
// "bytes 100-199/1000", "bytes 100-199/*" or (416) "bytes */1000" (first=last=-1).
std::optional<ContentRange> parse_content_range(std::string_view value);

ResumeAction resume_decision(std::int64_t local_size, long http_status,
                             const std::optional<ContentRange>& content_range);

}  // namespace pnsync
