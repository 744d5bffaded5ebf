// SPDX-License-Identifier: MIT
#include "daemon/job/retry_waits.hpp"

#include <utility>

namespace pnsync {

RetryWaits::RetryWaits(boost::asio::io_context& io, Log& log, Scheduler& scheduler,
                       std::string mirror_name, BackoffParams backoff)
    : io_(io),
      log_(log),
      scheduler_(scheduler),
      mirror_name_(std::move(mirror_name)),
      backoff_(backoff) {}

void RetryWaits::wait(int attempt, std::optional<std::chrono::seconds> retry_after,
                      std::function<void(bool due)> done) {
  if (retry_after) {
    log_.warning(mirror_name_ + ": the server asked to wait " +
                 std::to_string(retry_after->count()) + "s; holding all requests");
    scheduler_.hold_until(std::chrono::steady_clock::now() + *retry_after);
  }
  const auto delay = retry_delay(attempt, backoff_, retry_after, rng_);
  auto owned = std::make_unique<Wait>(Wait{boost::asio::steady_timer(io_, delay)});
  Wait* wait = owned.get();
  waits_.push_back(std::move(owned));
  ++waiting_;
  // `this` outlives the handler: `done` holds the pass that owns it.
  wait->timer.async_wait([this, wait, done = std::move(done)](const boost::system::error_code& ec) {
    --waiting_;
    const bool due = !ec || wait->now;
    std::erase_if(waits_, [wait](const auto& held) { return held.get() == wait; });
    done(due);
  });
}

void RetryWaits::end_all_now() {
  for (auto& wait : waits_) {
    wait->now = true;
    wait->timer.cancel();
  }
}

void RetryWaits::cancel_all() {
  for (auto& wait : waits_) wait->timer.cancel();
}

}  // namespace pnsync
