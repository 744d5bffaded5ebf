// SPDX-License-Identifier: MIT
#include "daemon/schedule/scheduler.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <vector>

using pnsync::Lane;
using pnsync::Scheduler;

TEST_CASE("the scheduler never runs more tasks than a lane's limit", "[scheduler]") {
  boost::asio::io_context io;
  Scheduler scheduler(io, 2, 1);
  std::vector<Scheduler::Slot> held;
  int started = 0;
  for (int i = 0; i < 5; ++i)
    scheduler.submit(Lane::File, [&](Scheduler::Slot slot) {
      ++started;
      held.push_back(std::move(slot));
    });
  io.restart();
  io.poll();
  CHECK(started == 2);
  CHECK(scheduler.running(Lane::File) == 2);
  CHECK(scheduler.queued(Lane::File) == 3);

  held.front().release();  // one finishes: exactly one more starts
  io.restart();
  io.poll();
  CHECK(started == 3);

  scheduler.set_limit(Lane::File, 4);  // raised live
  io.restart();
  io.poll();
  CHECK(started == 5);
}

TEST_CASE("lanes are independent: listings go on while transfers fill their lane", "[scheduler]") {
  boost::asio::io_context io;
  Scheduler scheduler(io, 1, 1);
  std::vector<Scheduler::Slot> held;
  std::vector<Lane> order;
  scheduler.submit(Lane::File, [&](Scheduler::Slot slot) {
    order.push_back(Lane::File);
    held.push_back(std::move(slot));
  });
  scheduler.submit(Lane::File, [&](Scheduler::Slot slot) {
    order.push_back(Lane::File);
    held.push_back(std::move(slot));
  });
  scheduler.submit(Lane::Listing, [&](Scheduler::Slot slot) {
    order.push_back(Lane::Listing);
    held.push_back(std::move(slot));
  });
  io.restart();
  io.poll();
  CHECK(order == std::vector<Lane>{Lane::File, Lane::Listing});
}

TEST_CASE("a dropped slot frees its place", "[scheduler]") {
  boost::asio::io_context io;
  Scheduler scheduler(io, 1, 1);
  int started = 0;
  for (int i = 0; i < 3; ++i) scheduler.submit(Lane::File, [&](Scheduler::Slot) { ++started; });
  io.restart();
  io.poll();
  CHECK(started == 3);
  CHECK(scheduler.running(Lane::File) == 0);
}

TEST_CASE("pause holds new starts, resume releases them", "[scheduler]") {
  boost::asio::io_context io;
  Scheduler scheduler(io, 4, 1);
  int started = 0;
  scheduler.pause();
  scheduler.submit(Lane::File, [&](Scheduler::Slot) { ++started; });
  io.restart();
  io.poll();
  CHECK(started == 0);
  scheduler.resume();
  io.restart();
  io.poll();
  CHECK(started == 1);
}

TEST_CASE("a host hold (Retry-After) delays every new start until it expires", "[scheduler]") {
  boost::asio::io_context io;
  Scheduler scheduler(io, 4, 4);
  std::chrono::steady_clock::time_point started_at{};
  const auto held_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
  scheduler.hold_until(held_until);
  scheduler.submit(Lane::Listing,
                   [&](Scheduler::Slot) { started_at = std::chrono::steady_clock::now(); });
  io.run();
  CHECK(started_at >= held_until);
}

TEST_CASE("release_hold ends a host hold at once, held_until tells it", "[scheduler]") {
  boost::asio::io_context io;
  Scheduler scheduler(io, 4, 4);
  CHECK_FALSE(scheduler.held_until());
  CHECK_FALSE(scheduler.release_hold());  // nothing to release
  const auto until = std::chrono::steady_clock::now() + std::chrono::hours(1);
  scheduler.hold_until(until);
  REQUIRE(scheduler.held_until());
  CHECK(*scheduler.held_until() == until);
  bool started = false;
  scheduler.submit(Lane::File, [&](Scheduler::Slot) { started = true; });
  io.run_for(std::chrono::milliseconds(50));
  CHECK_FALSE(started);  // held
  CHECK(scheduler.release_hold());
  CHECK_FALSE(scheduler.held_until());
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  CHECK(started);
}

TEST_CASE("try_acquire only hands out a slot nobody queued for", "[scheduler]") {
  boost::asio::io_context io;
  Scheduler scheduler(io, 2, 1);

  auto spare = scheduler.try_acquire(Lane::File);
  REQUIRE(spare);
  CHECK(scheduler.running(Lane::File) == 1);

  SECTION("not beyond the lane's limit") {
    auto second = scheduler.try_acquire(Lane::File);
    CHECK(second);
    CHECK_FALSE(scheduler.try_acquire(Lane::File));
    second->release();
    CHECK(scheduler.try_acquire(Lane::File));
  }
  SECTION("not while a task waits in that lane") {
    std::vector<Scheduler::Slot> held;
    for (int i = 0; i < 3; ++i)
      scheduler.submit(Lane::File, [&](Scheduler::Slot slot) { held.push_back(std::move(slot)); });
    io.restart();
    io.poll();
    CHECK(held.size() == 1);  // with the spare slot held, one place was left
    CHECK_FALSE(scheduler.try_acquire(Lane::File));
    spare->release();  // the freed place goes to the queue, not to try_acquire
    io.restart();
    io.poll();
    CHECK(held.size() == 2);
    CHECK_FALSE(scheduler.try_acquire(Lane::File));
    CHECK(scheduler.try_acquire(Lane::Listing));  // the other lane is not affected
  }
  SECTION("not while paused or held back") {
    scheduler.pause();
    CHECK_FALSE(scheduler.try_acquire(Lane::File));
    scheduler.resume();
    scheduler.hold_until(std::chrono::steady_clock::now() + std::chrono::hours(1));
    CHECK_FALSE(scheduler.try_acquire(Lane::File));
  }
}
