// SPDX-License-Identifier: MIT
#include "daemon/net/receive_pacer.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace pnsync {

ReceivePacer::ReceivePacer(boost::asio::io_context& io, std::function<void(CURL*)> resume)
    : resume_(std::move(resume)), timer_(io) {}

ReceivePacer::~ReceivePacer() {
  alive_.reset();
  boost::system::error_code ignored;
  timer_.cancel(ignored);
}

bool ReceivePacer::admit(CURL* easy, const ReceiveBudgets& budgets, std::int64_t bytes) {
  const auto now = RateBudget::Clock::now();
  const bool open = std::all_of(budgets.begin(), budgets.end(),
                                [&](const auto& budget) { return budget->open(now); });
  if (open) {
    for (const auto& budget : budgets) budget->spend(bytes);
    return true;
  }
  const bool already =
      std::any_of(held_.begin(), held_.end(), [&](const Held& held) { return held.easy == easy; });
  if (!already) held_.push_back({easy, budgets});
  if (!releasing_) arm();
  return false;
}

void ReceivePacer::forget(CURL* easy) {
  std::erase_if(held_, [&](const Held& held) { return held.easy == easy; });
}

RateBudget::Clock::duration ReceivePacer::wait(const ReceiveBudgets& budgets,
                                               RateBudget::Clock::time_point now) {
  RateBudget::Clock::duration longest{};
  for (const auto& budget : budgets) longest = std::max(longest, budget->wait(now));
  return longest;
}

void ReceivePacer::arm() {
  if (held_.empty()) return;
  const auto now = RateBudget::Clock::now();
  // The oldest held transfer goes first, so its wait is the one that matters; at least a
  // millisecond, so that rounding never spins the loop.
  const auto delay = std::max<RateBudget::Clock::duration>(wait(held_.front().budgets, now),
                                                           std::chrono::milliseconds(1));
  timer_.expires_after(delay);
  timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    release_ready();
  });
}

void ReceivePacer::release_ready() {
  // resume_ re-enters admit(): transfers held again meanwhile queue behind the ones that still
  // wait, which keep their place.
  std::deque<Held> waiting = std::exchange(held_, {});
  std::deque<Held> still_waiting;
  releasing_ = true;
  while (!waiting.empty()) {
    Held next = std::move(waiting.front());
    waiting.pop_front();
    if (wait(next.budgets, RateBudget::Clock::now()) == RateBudget::Clock::duration::zero())
      resume_(next.easy);
    else
      still_waiting.push_back(std::move(next));
  }
  releasing_ = false;
  for (auto& held : held_) still_waiting.push_back(std::move(held));
  held_ = std::move(still_waiting);
  arm();
}

}  // namespace pnsync
