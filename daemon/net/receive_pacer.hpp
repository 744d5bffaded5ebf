// SPDX-License-Identifier: MIT
// Paces response bodies against shared RateBudgets from inside curl's write callback: a chunk
// that finds a budget spent is refused with CURL_WRITEFUNC_PAUSE (curl keeps it), and the
// transfer is resumed once every budget it counts against has a refill quantum again. Held
// transfers go on oldest first, so the requests of one budget share its rate and none starves.
#pragma once

#include <curl/curl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>

#include "daemon/net/rate_budget.hpp"

namespace pnsync {

class ReceivePacer {
public:
  // `resume` lets a held transfer go on (CurlEngine::resume); it may call admit() again, for the
  // same transfer or another, before it returns.
  ReceivePacer(boost::asio::io_context& io, std::function<void(CURL*)> resume);
  ReceivePacer(const ReceivePacer&) = delete;
  ReceivePacer& operator=(const ReceivePacer&) = delete;
  ~ReceivePacer();

  // From the write callback of `easy`: true = take the chunk (its bytes are spent from every
  // budget); false = answer CURL_WRITEFUNC_PAUSE, and the pacer resumes `easy` later.
  bool admit(CURL* easy, const ReceiveBudgets& budgets, std::int64_t bytes);
  // `easy` ended or was cancelled while held: it is never resumed.
  void forget(CURL* easy);
  std::size_t held() const { return held_.size(); }

private:
  struct Held {
    CURL* easy;
    ReceiveBudgets budgets;
  };
  static RateBudget::Clock::duration wait(const ReceiveBudgets& budgets,
                                          RateBudget::Clock::time_point now);
  void arm();
  void release_ready();

  std::function<void(CURL*)> resume_;
  std::deque<Held> held_;
  boost::asio::steady_timer timer_;
  bool releasing_ = false;
  // The timer's handler may be queued when the pacer goes: it checks this first.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace pnsync
