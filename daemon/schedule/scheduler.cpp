// SPDX-License-Identifier: MIT
#include "daemon/schedule/scheduler.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

namespace pnsync {

Scheduler::Slot::Slot(Slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), lane_(other.lane_) {}

Scheduler::Slot& Scheduler::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    lane_ = other.lane_;
  }
  return *this;
}

Scheduler::Slot::~Slot() {
  release();
}

void Scheduler::Slot::release() {
  if (auto* owner = std::exchange(owner_, nullptr)) owner->release(lane_);
}

Scheduler::Scheduler(boost::asio::io_context& io, int file_limit, int listing_limit)
    : io_(io), hold_timer_(io) {
  files_.limit = std::max(1, file_limit);
  listings_.limit = std::max(1, listing_limit);
}

void Scheduler::submit(Lane lane, Task task) {
  lane_state(lane).queue.push_back(std::move(task));
  pump_lane(lane);
}

std::optional<Scheduler::Slot> Scheduler::try_acquire(Lane lane) {
  auto& state = lane_state(lane);
  if (paused_ || std::chrono::steady_clock::now() < hold_until_ || !state.queue.empty() ||
      state.running >= static_cast<std::size_t>(state.limit))
    return std::nullopt;
  ++state.running;
  return Slot(this, lane);
}

void Scheduler::set_limit(Lane lane, int limit) {
  lane_state(lane).limit = std::max(1, limit);
  pump_lane(lane);
}

void Scheduler::hold_until(std::chrono::steady_clock::time_point until) {
  if (until <= hold_until_) return;
  hold_until_ = until;
  hold_timer_.expires_at(until);
  hold_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) pump();
  });
}

bool Scheduler::release_hold() {
  if (!held_until()) return false;
  hold_until_ = {};
  hold_timer_.cancel();
  pump();
  return true;
}

std::optional<std::chrono::steady_clock::time_point> Scheduler::held_until() const {
  if (std::chrono::steady_clock::now() >= hold_until_) return std::nullopt;
  return hold_until_;
}

void Scheduler::pause() {
  paused_ = true;
}

void Scheduler::resume() {
  paused_ = false;
  pump();
}

void Scheduler::clear() {
  files_.queue.clear();
  listings_.queue.clear();
  hold_timer_.cancel();
}

void Scheduler::release(Lane lane) {
  auto& state = lane_state(lane);
  if (state.running > 0) --state.running;
  pump_lane(lane);
}

void Scheduler::pump() {
  pump_lane(Lane::Listing);
  pump_lane(Lane::File);
}

void Scheduler::pump_lane(Lane lane) {
  if (paused_ || std::chrono::steady_clock::now() < hold_until_) return;
  auto& state = lane_state(lane);
  while (!state.queue.empty() && state.running < static_cast<std::size_t>(state.limit)) {
    Task task = std::move(state.queue.front());
    state.queue.pop_front();
    ++state.running;
    // Start on the loop, not inside submit() or a finishing task: no re-entrancy, no deep stacks.
    boost::asio::post(io_, [task = std::move(task), slot = Slot(this, lane)]() mutable {
      task(std::move(slot));
    });
  }
}

}  // namespace pnsync
