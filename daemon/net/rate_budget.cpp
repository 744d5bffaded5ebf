// SPDX-License-Identifier: MIT
#include "daemon/net/rate_budget.hpp"

#include <algorithm>

namespace pnsync {

namespace {

constexpr std::int64_t kMinBurst = 64 * 1024;
constexpr std::int64_t kMinQuantum = 16 * 1024;  // one curl write chunk (CURL_MAX_WRITE_SIZE)

std::int64_t burst_for(std::int64_t rate) {
  return std::max(kMinBurst, rate / 4);
}

std::int64_t quantum_for(std::int64_t rate) {
  return std::clamp(rate / 50, kMinQuantum, burst_for(rate));
}

}  // namespace

RateBudget::RateBudget(std::int64_t bytes_per_second, Clock::time_point now)
    : rate_(std::max<std::int64_t>(0, bytes_per_second)),
      burst_(burst_for(rate_)),
      quantum_(quantum_for(rate_)),
      tokens_(static_cast<double>(burst_)),
      refilled_at_(now) {}

void RateBudget::set_rate(std::int64_t bytes_per_second, Clock::time_point now) {
  refill(now);
  rate_ = std::max<std::int64_t>(0, bytes_per_second);
  burst_ = burst_for(rate_);
  quantum_ = quantum_for(rate_);
  // A lifted limit forgives any debt: set again later, it starts with a full burst.
  tokens_ =
      rate_ == 0 ? static_cast<double>(burst_) : std::min(tokens_, static_cast<double>(burst_));
}

void RateBudget::refill(Clock::time_point now) {
  if (now <= refilled_at_) return;
  const double seconds = std::chrono::duration<double>(now - refilled_at_).count();
  refilled_at_ = now;
  if (rate_ == 0) return;
  tokens_ = std::min(static_cast<double>(burst_), tokens_ + seconds * static_cast<double>(rate_));
}

bool RateBudget::open(Clock::time_point now) {
  if (rate_ == 0) return true;
  refill(now);
  return tokens_ > 0;
}

void RateBudget::spend(std::int64_t bytes) {
  if (rate_ != 0) tokens_ -= static_cast<double>(bytes);
}

RateBudget::Clock::duration RateBudget::wait(Clock::time_point now) {
  if (rate_ == 0) return Clock::duration::zero();
  refill(now);
  const double missing = static_cast<double>(quantum_) - tokens_;
  if (missing <= 0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(missing / static_cast<double>(rate_)));
}

}  // namespace pnsync
