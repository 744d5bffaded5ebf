// SPDX-License-Identifier: MIT
// Decides when queued work may start: a concurrency limit per lane (directory listings and file
// transfers run side by side, so transfers begin while the crawl goes on), a host-wide hold when
// the server asks us to back off (Retry-After), and pause/resume. It knows nothing of HTTP, files
// or the store; the limits can change at run time (adaptive concurrency builds on that).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>

namespace pnsync {

enum class Lane { Listing, File };

class Scheduler {
public:
  // Proof that a task holds one place in its lane; the place frees itself when the slot dies.
  class Slot {
  public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();
    void release();

  private:
    friend class Scheduler;
    Slot(Scheduler* owner, Lane lane) : owner_(owner), lane_(lane) {}
    Scheduler* owner_ = nullptr;
    Lane lane_ = Lane::File;
  };

  using Task = std::function<void(Slot)>;

  Scheduler(boost::asio::io_context& io, int file_limit, int listing_limit);

  void submit(Lane lane, Task task);
  // A slot at once, if one is spare: nothing queued in the lane, below its limit, neither paused
  // nor held. For work that only helps when capacity would otherwise sit idle (the extra byte
  // ranges of a large file), so it never delays queued work.
  std::optional<Slot> try_acquire(Lane lane);
  void set_limit(Lane lane, int limit);
  // No new task starts before `until` (running ones go on).
  void hold_until(std::chrono::steady_clock::time_point until);
  // Ends a hold now (`pnsyncctl resume` or `sync`: the operator overrides the server's wait).
  // False when there was none.
  bool release_hold();
  // When the hold in force ends; nullopt when none is.
  std::optional<std::chrono::steady_clock::time_point> held_until() const;
  void pause();
  void resume();
  // Drops every queued task (running ones keep their slots).
  void clear();

  std::size_t running(Lane lane) const { return lane_state(lane).running; }
  std::size_t queued(Lane lane) const { return lane_state(lane).queue.size(); }
  int limit(Lane lane) const { return lane_state(lane).limit; }

private:
  struct LaneState {
    int limit = 1;
    std::size_t running = 0;
    std::deque<Task> queue;
  };
  LaneState& lane_state(Lane lane) { return lane == Lane::File ? files_ : listings_; }
  const LaneState& lane_state(Lane lane) const { return lane == Lane::File ? files_ : listings_; }
  void release(Lane lane);
  void pump();
  void pump_lane(Lane lane);

  boost::asio::io_context& io_;
  boost::asio::steady_timer hold_timer_;
  std::chrono::steady_clock::time_point hold_until_{};
  bool paused_ = false;
  LaneState files_;
  LaneState listings_;
};

}  // namespace pnsync
