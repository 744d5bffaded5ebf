// SPDX-License-Identifier: MIT
#include "common/progress.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>

namespace pnsync {

std::string format_bytes(std::int64_t bytes) {
  static constexpr std::array<const char*, 6> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (std::fabs(value) >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%lld B", static_cast<long long>(bytes));
  else
    std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string format_rate(double bytes_per_second) {
  return format_bytes(static_cast<std::int64_t>(bytes_per_second)) + "/s";
}

std::string format_duration(std::chrono::seconds span) {
  const long long total = span.count();
  char text[32];
  if (total < 60)
    std::snprintf(text, sizeof text, "%llds", total);
  else if (total < 3600)
    std::snprintf(text, sizeof text, "%lldm%02llds", total / 60, total % 60);
  else if (total < 86400)
    std::snprintf(text, sizeof text, "%lldh%02lldm", total / 3600, (total % 3600) / 60);
  else
    std::snprintf(text, sizeof text, "%lldd%02lldh", total / 86400, (total % 86400) / 3600);
  return text;
}

void RateMeter::sample(std::chrono::steady_clock::time_point when, std::int64_t total_bytes) {
  samples_.emplace_back(when, total_bytes);
  while (samples_.size() > 2 && when - samples_.front().first > window_) samples_.pop_front();
}

double RateMeter::bytes_per_second() const {
  if (samples_.size() < 2) return 0.0;
  const auto& [first_time, first_bytes] = samples_.front();
  const auto& [last_time, last_bytes] = samples_.back();
  const double seconds = std::chrono::duration<double>(last_time - first_time).count();
  return seconds > 0 ? static_cast<double>(last_bytes - first_bytes) / seconds : 0.0;
}

std::optional<std::chrono::seconds> eta(std::int64_t remaining_bytes, double bytes_per_second) {
  if (bytes_per_second <= 0 || remaining_bytes < 0) return std::nullopt;
  return std::chrono::seconds(
      static_cast<long long>(static_cast<double>(remaining_bytes) / bytes_per_second));
}

}  // namespace pnsync
