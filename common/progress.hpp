// SPDX-License-Identifier: MIT
// Human-readable numbers and the rate estimate behind the progress line and the summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace pnsync {

std::string format_bytes(std::int64_t bytes);            // "1.5 GiB", IEC units
std::string format_rate(double bytes_per_second);        // "12.3 MiB/s"
std::string format_duration(std::chrono::seconds span);  // "3h12m", "45s"

// Throughput over a sliding window, so the rate and ETA follow the present, not the whole run.
class RateMeter {
public:
  explicit RateMeter(std::chrono::seconds window = std::chrono::seconds(10)) : window_(window) {}
  void sample(std::chrono::steady_clock::time_point when, std::int64_t total_bytes);
  double bytes_per_second() const;

private:
  std::chrono::steady_clock::duration window_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::int64_t>> samples_;
};

// Remaining time at the current rate; nullopt when the rate is zero or the total is unknown.
std::optional<std::chrono::seconds> eta(std::int64_t remaining_bytes, double bytes_per_second);

}  // namespace pnsync
