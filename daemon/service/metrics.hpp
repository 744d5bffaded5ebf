// SPDX-License-Identifier: MIT
// What pnsyncd counts for Prometheus, as a plain struct the engine updates on its own thread, and
// one pure function that renders it with a status snapshot in the text exposition format 0.0.4.
// The daemon owns one Metrics value; nothing here is global, locked or registered.
//
// Every label takes its values from a closed set (an enum, or a configured mirror name), so the
// number of series is fixed by the configuration and never grows with traffic.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/messages.hpp"
#include "store/store.hpp"

namespace pnsync::metrics {

// Why a file request is tried again; label values of pnsync_retries_total{reason}.
enum class RetryReason {
  Network,      // connection refused or reset, DNS, TLS handshake, short body
  Timeout,      // connect timeout or stall (no byte for stall_timeout)
  ServerError,  // 5xx without Retry-After
  RateLimited,  // 429 or 503 with Retry-After: the whole host waits
  Checksum,     // the bytes did not match the manifest or the listing size
};
inline constexpr std::size_t kRetryReasons = 5;
std::string_view to_string(RetryReason reason);

// Request latency: time from starting an HTTP request to the end of its response headers (curl's
// CURLINFO_STARTTRANSFER_TIME), so the buckets measure the server and the path to it, not the size
// of the file. Bounds in seconds, fixed so that dashboards and alerts can rely on them: the low end
// separates a warm HTTP/2 connection from a fresh TLS handshake, the high end approaches
// connect_timeout.
class LatencyHistogram {
public:
  static constexpr std::array<double, 12> kBounds = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,    2.5,   5,    10,  30,   60};

  void observe(std::chrono::duration<double> latency);

  // Observations with latency <= kBounds[i] and > kBounds[i-1] (not cumulative; the renderer
  // accumulates). Larger ones are counted in count() only, as the +Inf bucket.
  const std::array<std::uint64_t, kBounds.size()>& per_bucket() const { return per_bucket_; }
  std::uint64_t count() const { return count_; }
  double sum_seconds() const { return sum_seconds_; }

private:
  std::array<std::uint64_t, kBounds.size()> per_bucket_{};
  std::uint64_t count_ = 0;
  double sum_seconds_ = 0;
};

// One configured mirror, keyed by its name ("mimic-cxr/2.0.0") in Metrics::mirrors.
struct MirrorCounters {
  std::uint64_t fetched_bytes = 0;  // body bytes received, including retried and discarded ones
  // Files known to the store, by state; the daemon refreshes these from the store after each
  // batch commit (a gauge, not a counter: files move between states).
  std::array<std::int64_t, 4> files_by_state{};  // indexed by store::FileState
  // End of the last pass after which every selected file was verified. A pass that ended with
  // failures does not count, so an alert on its age catches a mirror stuck on errors.
  std::optional<std::int64_t> last_success_unix;

  std::int64_t& files(store::FileState state) {
    return files_by_state[static_cast<std::size_t>(state)];
  }
};

struct Metrics {
  std::map<std::string, MirrorCounters, std::less<>> mirrors;
  std::array<std::uint64_t, kRetryReasons> retries{};  // indexed by RetryReason
  std::uint64_t auth_failures = 0;                     // 401 answers (each stops its mirror)
  std::int64_t transfers_active = 0;                   // file transfers with a request in flight
  LatencyHistogram request_latency;

  void count_retry(RetryReason reason) { ++retries[static_cast<std::size_t>(reason)]; }
  MirrorCounters& mirror(std::string_view name);  // created on first use
};

// The whole /metrics body. Pure: same input, same bytes. Families come in a fixed order with their
// # HELP and # TYPE lines; mirrors are sorted by name.
std::string render(const Metrics& metrics, const protocol::DaemonStatus& status);

// The pieces render() is made of, exposed for table tests.
namespace detail {
// A label value inside double quotes: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);
// # HELP text: backslash and line feed escaped (a double quote is literal there).
std::string escape_help(std::string_view text);
// A sample value: integers exactly ("42", not "42.0" or "4.2e+01"), other numbers in the shortest
// form that reads back to the same double, "+Inf", "-Inf" and "NaN" as Prometheus spells them.
std::string format_value(double value);
}  // namespace detail

}  // namespace pnsync::metrics
