// SPDX-License-Identifier: MIT
// A token bucket of received bytes, shared by every request it paces: the host's
// `bandwidth_limit` is one budget, each mirror's another. libcurl's own cap
// (CURLOPT_MAX_RECV_SPEED_LARGE) cannot stand in for it: it paces one transfer at a time and, in
// 7.88, lets each new transfer read what has arrived before it first checks, so files of a few
// MB passed a 512 KiB/s limit at full speed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace pnsync {

class RateBudget {
public:
  using Clock = std::chrono::steady_clock;

  // `bytes_per_second` 0 = unlimited. The bucket starts full.
  explicit RateBudget(std::int64_t bytes_per_second = 0, Clock::time_point now = Clock::now());

  // Takes effect at once, for requests in flight too; what was saved up under the old rate is
  // kept up to the new rate's burst, and lifting the limit (0) forgives any debt.
  void set_rate(std::int64_t bytes_per_second, Clock::time_point now = Clock::now());
  std::int64_t rate() const { return rate_; }
  bool unlimited() const { return rate_ == 0; }

  // May bytes be taken now? True unless the budget is in debt: a chunk larger than what is left
  // is taken whole (curl cannot hand back part of one), and the refill pays the debt off.
  bool open(Clock::time_point now);
  void spend(std::int64_t bytes);
  // How long a request held by this budget should wait: until a refill quantum (about 1/50 s of
  // the rate) has come in, so that a paced request is woken some 50 times a second rather than
  // once per 16 KiB chunk. Zero when open with a quantum in hand.
  Clock::duration wait(Clock::time_point now);

  std::int64_t burst() const { return burst_; }
  std::int64_t quantum() const { return quantum_; }

private:
  void refill(Clock::time_point now);

  std::int64_t rate_ = 0;
  std::int64_t burst_ = 0;    // the most the bucket saves up: a quarter second, at least 64 KiB
  std::int64_t quantum_ = 0;  // what a held request waits for
  double tokens_ = 0;         // may go negative (debt)
  Clock::time_point refilled_at_;
};

// The budgets one request counts against (the host's and its mirror's); any of them may be
// unlimited, and an empty list paces nothing.
using ReceiveBudgets = std::vector<std::shared_ptr<RateBudget>>;

}  // namespace pnsync
