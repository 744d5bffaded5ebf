// SPDX-License-Identifier: MIT
// The requests of a mirror pass that are backing off until their next try is due: files and
// listings alike, so that the pass knows when nothing is left waiting and an operator's `resume`
// reaches every one of them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "daemon/net/http_policy.hpp"
#include "daemon/schedule/scheduler.hpp"

namespace pnsync {

class RetryWaits {
public:
  RetryWaits(boost::asio::io_context& io, Log& log, Scheduler& scheduler, std::string mirror_name,
             BackoffParams backoff);
  RetryWaits(const RetryWaits&) = delete;
  RetryWaits& operator=(const RetryWaits&) = delete;
  RetryWaits(RetryWaits&&) = delete;
  RetryWaits& operator=(RetryWaits&&) = delete;
  ~RetryWaits() = default;

  // Runs `done(true)` once the back-off before try `attempt` is over, or the server's
  // `retry_after` (which speaks for the whole host: nothing new starts on the scheduler until it
  // is over). `done(false)` after cancel_all(). `done` runs on the loop, never from here.
  void wait(int attempt, std::optional<std::chrono::seconds> retry_after,
            std::function<void(bool due)> done);
  // Every wait ends now, as if due (pnsyncctl resume, sync).
  void end_all_now();
  void cancel_all();
  std::size_t waiting() const { return waiting_; }

private:
  struct Wait {
    boost::asio::steady_timer timer;
    bool now = false;  // a cancelled wait that is due at once
  };
  boost::asio::io_context& io_;
  Log& log_;
  Scheduler& scheduler_;
  std::string mirror_name_;
  BackoffParams backoff_;
  std::mt19937_64 rng_{std::random_device{}()};  // jitter, so retries do not come in step
  std::vector<std::unique_ptr<Wait>> waits_;
  std::size_t waiting_ = 0;
};

}  // namespace pnsync
