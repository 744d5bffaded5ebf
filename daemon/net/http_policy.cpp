// SPDX-License-Identifier: MIT
#include "daemon/net/http_policy.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string_view>
#include <vector>

namespace pnsync {
namespace {

// ---------------------------------------------------------------------------------------------
// classify

// What a CURLcode says about the transfer, before looking at the HTTP status.
enum class CurlClass {
  Ok,         // the transfer completed; the status decides
  HttpError,  // CURLOPT_FAILONERROR turned a status >= 400 into an error; the status decides
  Transient,  // the network or the server hiccupped: try again
  Fatal,      // TLS verification, local failures, misuse: retrying cannot help
  Auth,       // the server refused the login: never retry, the account may lock
};

struct CurlCodeInfo {
  int code;
  CurlClass cls;
};

// The numbers mirror curl/curl.h (libcurl 7.88 on Debian 12); they are part of libcurl's ABI
// and never change. tests/daemon/net/http_policy_test.cpp checks them against the real header.
// Codes not listed here (FTP, LDAP, TFTP, SSH, RTSP, obsolete) are Fatal: they cannot come
// out of an HTTPS transfer, and failing closed is the safe reading of the unexpected.
constexpr std::array<CurlCodeInfo, 56> kCurlCodes{{
    {0, CurlClass::Ok},          // CURLE_OK
    {1, CurlClass::Fatal},       // CURLE_UNSUPPORTED_PROTOCOL
    {2, CurlClass::Fatal},       // CURLE_FAILED_INIT
    {3, CurlClass::Fatal},       // CURLE_URL_MALFORMAT
    {4, CurlClass::Fatal},       // CURLE_NOT_BUILT_IN
    {5, CurlClass::Transient},   // CURLE_COULDNT_RESOLVE_PROXY
    {6, CurlClass::Transient},   // CURLE_COULDNT_RESOLVE_HOST (DNS hiccups happen)
    {7, CurlClass::Transient},   // CURLE_COULDNT_CONNECT
    {8, CurlClass::Transient},   // CURLE_WEIRD_SERVER_REPLY
    {16, CurlClass::Transient},  // CURLE_HTTP2
    {18, CurlClass::Transient},  // CURLE_PARTIAL_FILE (short body)
    {22, CurlClass::HttpError},  // CURLE_HTTP_RETURNED_ERROR
    {23, CurlClass::Fatal},      // CURLE_WRITE_ERROR (local disk: the engine's business)
    {26, CurlClass::Fatal},      // CURLE_READ_ERROR (local)
    {27, CurlClass::Fatal},      // CURLE_OUT_OF_MEMORY
    {28, CurlClass::Transient},  // CURLE_OPERATION_TIMEDOUT (also the low-speed stall cut)
    {33, CurlClass::Transient},  // CURLE_RANGE_ERROR (next attempt re-plans the resume)
    {35, CurlClass::Transient},  // CURLE_SSL_CONNECT_ERROR (handshake reset, not verify)
    {36, CurlClass::Fatal},      // CURLE_BAD_DOWNLOAD_RESUME
    {42, CurlClass::Transient},  // CURLE_ABORTED_BY_CALLBACK (the engine cut a stall)
    {43, CurlClass::Fatal},      // CURLE_BAD_FUNCTION_ARGUMENT
    {45, CurlClass::Fatal},      // CURLE_INTERFACE_FAILED
    {47, CurlClass::Fatal},      // CURLE_TOO_MANY_REDIRECTS
    {48, CurlClass::Fatal},      // CURLE_UNKNOWN_OPTION
    {49, CurlClass::Fatal},      // CURLE_SETOPT_OPTION_SYNTAX
    {52, CurlClass::Transient},  // CURLE_GOT_NOTHING
    {53, CurlClass::Fatal},      // CURLE_SSL_ENGINE_NOTFOUND
    {54, CurlClass::Fatal},      // CURLE_SSL_ENGINE_SETFAILED
    {55, CurlClass::Transient},  // CURLE_SEND_ERROR
    {56, CurlClass::Transient},  // CURLE_RECV_ERROR (connection reset)
    {58, CurlClass::Fatal},      // CURLE_SSL_CERTPROBLEM (local client certificate)
    {59, CurlClass::Fatal},      // CURLE_SSL_CIPHER
    {60, CurlClass::Fatal},      // CURLE_PEER_FAILED_VERIFICATION (fail closed)
    {61, CurlClass::Fatal},      // CURLE_BAD_CONTENT_ENCODING
    {63, CurlClass::Fatal},      // CURLE_FILESIZE_EXCEEDED
    {64, CurlClass::Fatal},      // CURLE_USE_SSL_FAILED
    {65, CurlClass::Fatal},      // CURLE_SEND_FAIL_REWIND
    {66, CurlClass::Fatal},      // CURLE_SSL_ENGINE_INITFAILED
    {67, CurlClass::Auth},       // CURLE_LOGIN_DENIED
    {77, CurlClass::Fatal},      // CURLE_SSL_CACERT_BADFILE (cannot verify: fail closed)
    {80, CurlClass::Transient},  // CURLE_SSL_SHUTDOWN_FAILED
    {81, CurlClass::Transient},  // CURLE_AGAIN
    {82, CurlClass::Fatal},      // CURLE_SSL_CRL_BADFILE
    {83, CurlClass::Fatal},      // CURLE_SSL_ISSUER_ERROR
    {88, CurlClass::Fatal},      // CURLE_CHUNK_FAILED
    {89, CurlClass::Transient},  // CURLE_NO_CONNECTION_AVAILABLE
    {90, CurlClass::Fatal},      // CURLE_SSL_PINNEDPUBKEYNOTMATCH
    {91, CurlClass::Fatal},      // CURLE_SSL_INVALIDCERTSTATUS
    {92, CurlClass::Transient},  // CURLE_HTTP2_STREAM
    {93, CurlClass::Fatal},      // CURLE_RECURSIVE_API_CALL
    {94, CurlClass::Fatal},      // CURLE_AUTH_ERROR (a local auth function failed)
    {95, CurlClass::Transient},  // CURLE_HTTP3
    {96, CurlClass::Transient},  // CURLE_QUIC_CONNECT_ERROR
    {97, CurlClass::Fatal},      // CURLE_PROXY
    {98, CurlClass::Fatal},      // CURLE_SSL_CLIENTCERT
    {99, CurlClass::Fatal},      // CURLE_UNRECOVERABLE_POLL
}};

constexpr bool codes_are_sorted() {
  for (std::size_t i = 1; i < kCurlCodes.size(); ++i) {
    if (kCurlCodes[i - 1].code >= kCurlCodes[i].code) return false;
  }
  return true;
}
static_assert(codes_are_sorted(), "kCurlCodes must stay sorted and unique");

CurlClass curl_class(int code) {
  const auto* it = std::lower_bound(kCurlCodes.begin(), kCurlCodes.end(), code,
                                    [](const CurlCodeInfo& info, int c) { return info.code < c; });
  if (it == kCurlCodes.end() || it->code != code) return CurlClass::Fatal;
  return it->cls;
}

Verdict status_verdict(long status, bool has_retry_after) {
  if (status >= 200 && status <= 299) return Verdict::Success;
  switch (status) {
    case 304:  // only ever the answer to the caller's own conditional request
      return Verdict::Success;
    case 401:
      return Verdict::AuthFailed;
    case 403:
      return Verdict::AccessDenied;
    case 404:
    case 410:
      return Verdict::NotFound;
    case 429:
    case 503:
      return has_retry_after ? Verdict::RetryAfter : Verdict::Retry;
    case 408:  // Request Timeout
    case 425:  // Too Early
      return Verdict::Retry;
    case 501:  // Not Implemented
    case 505:  // HTTP Version Not Supported
    case 511:  // Network Authentication Required (a captive portal)
      return Verdict::Fatal;
    default:
      break;
  }
  if (status >= 500 && status <= 599) return Verdict::Retry;
  return Verdict::Fatal;  // 1xx as a final answer, unfollowed 3xx, other 4xx, nonsense
}

// ---------------------------------------------------------------------------------------------
// HTTP-date (RFC 9110 section 5.6.7)

constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kShortDays{"Mon", "Tue", "Wed", "Thu",
                                                     "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays{"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

template <std::size_t N>
bool in_names(std::string_view word, const std::array<std::string_view, N>& names) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view name) { return iequals(word, name); });
}

int month_number(std::string_view word) {
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (iequals(word, kMonths[i])) return static_cast<int>(i) + 1;
  }
  return 0;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Exactly `text.size()` digits, nothing else.
std::optional<int> fixed_digits(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

struct Clock {
  int hour = 0;
  int minute = 0;
  int second = 0;
};

// "HH:MM:SS"; a leap second (60) is accepted and counts as the next second.
std::optional<Clock> parse_clock(std::string_view text) {
  if (text.size() != 8 || text[2] != ':' || text[5] != ':') return std::nullopt;
  const auto h = fixed_digits(text.substr(0, 2));
  const auto m = fixed_digits(text.substr(3, 2));
  const auto s = fixed_digits(text.substr(6, 2));
  if (!h || !m || !s || *h > 23 || *m > 59 || *s > 60) return std::nullopt;
  return Clock{*h, *m, *s};
}

// Seconds since the epoch, computed in 64-bit seconds: a far-future year must not overflow
// system_clock's nanosecond representation.
std::optional<std::int64_t> to_epoch_seconds(int year, int month, int day, const Clock& clock) {
  if (year < 1 || year > 9999) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + clock.hour * 3600 + clock.minute * 60 + clock.second;
}

// Splits on single spaces, keeping empty fields (asctime pads the day with a space).
std::vector<std::string_view> split_spaces(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t space = text.find(' ', start);
    fields.push_back(text.substr(start, space == std::string_view::npos ? space : space - start));
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  return fields;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<std::int64_t> imf_fixdate_seconds(std::string_view text) {
  const auto f = split_spaces(text);
  if (f.size() != 6 || f[0].size() != 4 || f[0][3] != ',' ||
      !in_names(f[0].substr(0, 3), kShortDays))
    return std::nullopt;
  const auto day = f[1].size() == 2 ? fixed_digits(f[1]) : std::nullopt;
  const int month = month_number(f[2]);
  const auto year = f[3].size() == 4 ? fixed_digits(f[3]) : std::nullopt;
  const auto clock = parse_clock(f[4]);
  if (!day || month == 0 || !year || !clock || f[5] != "GMT") return std::nullopt;
  return to_epoch_seconds(*year, month, *day, *clock);
}

// RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year more than 50 years in the future
// is taken as the most recent past year with those digits (RFC 9110).
std::optional<std::int64_t> parse_rfc850(std::string_view text, int current_year) {
  const auto f = split_spaces(text);
  if (f.size() != 4 || f[0].size() < 2 || f[0].back() != ',' ||
      !in_names(f[0].substr(0, f[0].size() - 1), kLongDays))
    return std::nullopt;
  const std::string_view date = f[1];
  if (date.size() != 9 || date[2] != '-' || date[6] != '-') return std::nullopt;
  const auto day = fixed_digits(date.substr(0, 2));
  const int month = month_number(date.substr(3, 3));
  const auto yy = fixed_digits(date.substr(7, 2));
  const auto clock = parse_clock(f[2]);
  if (!day || month == 0 || !yy || !clock || f[3] != "GMT") return std::nullopt;
  int year = current_year - current_year % 100 + *yy;
  if (year > current_year + 50) year -= 100;
  return to_epoch_seconds(year, month, *day, *clock);
}

// asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space) or "Sun Nov 16 08:49:37 1994".
std::optional<std::int64_t> parse_asctime(std::string_view text) {
  auto f = split_spaces(text);
  if (f.size() == 6 && f[2].empty()) f.erase(f.begin() + 2);  // the padding space
  if (f.size() != 5 || !in_names(f[0], kShortDays)) return std::nullopt;
  const int month = month_number(f[1]);
  const auto day = (f[2].size() == 1 || f[2].size() == 2) ? fixed_digits(f[2]) : std::nullopt;
  const auto clock = parse_clock(f[3]);
  const auto year = f[4].size() == 4 ? fixed_digits(f[4]) : std::nullopt;
  if (month == 0 || !day || !clock || !year) return std::nullopt;
  return to_epoch_seconds(*year, month, *day, *clock);
}

// The largest delay whose conversion to milliseconds cannot overflow.
constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000;

std::int64_t saturating_ms(std::chrono::seconds s) {
  if (s.count() <= 0) return 0;
  if (s.count() >= kMaxSeconds) return std::numeric_limits<std::int64_t>::max();
  return s.count() * 1000;
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A non-negative decimal that fits in int64, digits only.
std::optional<std::int64_t> parse_uint63(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return std::nullopt;
    const int digit = c - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace

std::string status_text(long http_status) {
  switch (http_status) {
    case 401:
      return "401 Unauthorized: the server refused the username or password";
    case 403:
      return "403 Forbidden: this account has no access to this project version (credentialing, "
             "training or the data use agreement for this version)";
    case 404:
      return "404 Not Found";
    case 410:
      return "410 Gone";
    case 416:
      return "416 Range Not Satisfiable";
    case 429:
      return "429 Too Many Requests";
    case 500:
      return "500 Internal Server Error";
    case 502:
      return "502 Bad Gateway";
    case 503:
      return "503 Service Unavailable";
    case 504:
      return "504 Gateway Timeout";
    default:
      return "HTTP " + std::to_string(http_status);
  }
}

std::optional<std::int64_t> parse_imf_fixdate(std::string_view text) {
  return imf_fixdate_seconds(text);
}

std::optional<std::string> format_imf_fixdate(std::int64_t seconds) {
  constexpr std::int64_t kFirst = -62'135'596'800;  // 0001-01-01 00:00:00
  constexpr std::int64_t kLast = 253'402'300'799;   // 9999-12-31 23:59:59
  if (seconds < kFirst || seconds > kLast) return std::nullopt;
  // Floor division: a time before 1970 still falls on the day that contains it.
  const std::int64_t days = seconds / 86400 - (seconds % 86400 < 0 ? 1 : 0);
  const std::int64_t of_day = seconds - days * 86400;
  const std::chrono::sys_days day{std::chrono::days{days}};
  const std::chrono::year_month_day ymd{day};
  const int year = static_cast<int>(ymd.year());
  // kShortDays starts on Monday, as ISO weekday numbers do.
  const std::string_view weekday = kShortDays[std::chrono::weekday{day}.iso_encoding() - 1];
  const std::string_view month = kMonths[static_cast<unsigned>(ymd.month()) - 1];
  char text[64];  // 29 used; room for what -Wformat-truncation assumes an int may print
  std::snprintf(text, sizeof text, "%.3s, %02u %.3s %04d %02d:%02d:%02d GMT", weekday.data(),
                static_cast<unsigned>(ymd.day()), month.data(), year,
                static_cast<int>(of_day / 3600), static_cast<int>(of_day / 60 % 60),
                static_cast<int>(of_day % 60));
  return std::string(text);
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::Success:
      return "success";
    case Verdict::Retry:
      return "retry";
    case Verdict::RetryAfter:
      return "retry-after";
    case Verdict::AuthFailed:
      return "auth-failed";
    case Verdict::AccessDenied:
      return "access-denied";
    case Verdict::NotFound:
      return "not-found";
    case Verdict::Fatal:
      return "fatal";
  }
  return "unknown";
}

Verdict classify(int curl_code, long http_status, bool has_retry_after) {
  switch (curl_class(curl_code)) {
    case CurlClass::Fatal:
      return Verdict::Fatal;
    case CurlClass::Auth:
      return Verdict::AuthFailed;
    case CurlClass::Ok:
      // A completed transfer without a status line is a protocol violation: fail closed.
      if (http_status == 0) return Verdict::Fatal;
      return status_verdict(http_status, has_retry_after);
    case CurlClass::HttpError:
      // CURLOPT_FAILONERROR reports statuses >= 400 only; anything else contradicts itself.
      if (http_status < 400) return Verdict::Fatal;
      return status_verdict(http_status, has_retry_after);
    case CurlClass::Transient:
      // The connection broke, but an error status that did arrive still decides: a 401 whose
      // body was cut short is still a failed login and must not be retried.
      if (http_status >= 400) return status_verdict(http_status, has_retry_after);
      return Verdict::Retry;
  }
  return Verdict::Fatal;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  value = trim_ows(value);
  if (value.empty()) return std::nullopt;

  if (std::all_of(value.begin(), value.end(), is_digit)) {
    // delta-seconds; an absurd value saturates instead of overflowing (capping is the caller's
    // policy).
    std::int64_t seconds = 0;
    for (const char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds >= kMaxSeconds) return std::chrono::seconds{kMaxSeconds};
    }
    return std::chrono::seconds{seconds};
  }

  const std::int64_t now_s =
      std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto now_days = std::chrono::floor<std::chrono::days>(now);
  const int current_year = static_cast<int>(std::chrono::year_month_day{now_days}.year());

  std::optional<std::int64_t> at = imf_fixdate_seconds(value);
  if (!at) at = parse_rfc850(value, current_year);
  if (!at) at = parse_asctime(value);
  if (!at) return std::nullopt;
  // The date has whole seconds, so date - floor(now) is the delay rounded up: never earlier
  // than the server asked.
  return std::chrono::seconds{std::max<std::int64_t>(0, *at - now_s)};
}

std::chrono::milliseconds retry_delay(int attempt, const BackoffParams& params,
                                      std::optional<std::chrono::seconds> retry_after,
                                      std::mt19937_64& rng) {
  const std::int64_t ceiling = std::max<std::int64_t>(0, params.ceiling.count());
  const std::int64_t base = std::max<std::int64_t>(0, params.base.count());
  const int doublings = std::max(attempt, 1) - 1;

  // d = min(ceiling, base * 2^(attempt-1)), without ever computing an overflowing product.
  std::int64_t d = std::min(base, ceiling);
  for (int i = 0; i < doublings && d > 0 && d < ceiling; ++i) {
    d = (d > ceiling / 2) ? ceiling : d * 2;
  }

  // Uniform in [d/2, d]. Mapping rng() ourselves (rather than uniform_int_distribution, whose
  // algorithm is unspecified) keeps a seeded sequence identical on every standard library; the
  // modulo bias is below 2^-40 for any sane ceiling.
  const std::int64_t low = d / 2;
  const auto span = static_cast<std::uint64_t>(d - low) + 1;
  std::int64_t delay = low + static_cast<std::int64_t>(rng() % span);

  if (retry_after) delay = std::max(delay, saturating_ms(*retry_after));
  return std::chrono::milliseconds{delay};
}

std::optional<ContentRange> parse_content_range(std::string_view value) {
  value = trim_ows(value);
  constexpr std::string_view kUnit = "bytes";
  if (value.size() <= kUnit.size() || !iequals(value.substr(0, kUnit.size()), kUnit) ||
      value[kUnit.size()] != ' ')
    return std::nullopt;
  value.remove_prefix(kUnit.size() + 1);

  const std::size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view range = value.substr(0, slash);
  const std::string_view length = value.substr(slash + 1);

  ContentRange result;
  if (length != "*") {
    result.total = parse_uint63(length);
    if (!result.total) return std::nullopt;
  }

  if (range == "*") {
    // Unsatisfied range (416): only meaningful with a known length.
    if (!result.total) return std::nullopt;
    result.first = -1;
    result.last = -1;
    return result;
  }
  const std::size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto first = parse_uint63(range.substr(0, dash));
  const auto last = parse_uint63(range.substr(dash + 1));
  if (!first || !last || *first > *last) return std::nullopt;
  if (result.total && *last >= *result.total) return std::nullopt;
  result.first = *first;
  result.last = *last;
  return result;
}

ResumeAction resume_decision(std::int64_t local_size, long http_status,
                             const std::optional<ContentRange>& content_range) {
  if (http_status == 206) {
    if (content_range && content_range->first >= 0 && content_range->first == local_size) {
      return ResumeAction::Append;
    }
    return ResumeAction::Restart;
  }
  if (http_status == 416) {
    // Only the unsatisfied form "bytes */N" states the full length on a 416.
    if (content_range && content_range->first < 0 && content_range->total &&
        *content_range->total == local_size) {
      return ResumeAction::Complete;
    }
    return ResumeAction::Discard;
  }
  if (http_status >= 200 && http_status <= 299) {
    return ResumeAction::Restart;  // the range was ignored: the body is the whole file
  }
  // Not an answer to a range request (errors go through classify() first). Never keep or append
  // to a prefix on the strength of an error page.
  return ResumeAction::Discard;
}

}  // namespace pnsync
