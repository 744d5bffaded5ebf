// SPDX-License-Identifier: MIT
// The back-off waits of a pass, on a real io_context: each ends when due, all end at once when the
// operator says go, none runs its retry after a cancel, and a server's Retry-After holds the host.
#include "daemon/job/retry_waits.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <vector>

using namespace pnsync;
using namespace std::chrono_literals;

namespace {

struct WaitBench {
  boost::asio::io_context io;
  Log log{LogLevel::Error};
  Scheduler scheduler{io, 4, 2};
  std::vector<bool> ended;  // each wait's `due`, in the order they ended

  // Runs the loop for at most `limit`, until `count` waits have ended.
  void run(std::size_t count, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (ended.size() < count && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
  }
  std::function<void(bool)> record() {
    return [this](bool due) { ended.push_back(due); };
  }
};

}  // namespace

TEST_CASE("retry waits: a wait ends as due once its back-off is over", "[retry_waits]") {
  WaitBench bench;
  RetryWaits waits(bench.io, bench.log, bench.scheduler, "demo/1.0", {20ms, 40ms});
  const auto start = std::chrono::steady_clock::now();
  waits.wait(1, std::nullopt, bench.record());
  waits.wait(1, std::nullopt, bench.record());
  CHECK(waits.waiting() == 2);
  CHECK(bench.ended.empty());  // never from inside wait()
  bench.run(2);
  CHECK(bench.ended == std::vector<bool>{true, true});
  CHECK(waits.waiting() == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 10ms);  // at least half the base
}

TEST_CASE("retry waits: end_all_now ends every wait as due at once", "[retry_waits]") {
  WaitBench bench;
  RetryWaits waits(bench.io, bench.log, bench.scheduler, "demo/1.0", {60s, 60s});
  waits.wait(1, std::nullopt, bench.record());
  waits.wait(3, std::nullopt, bench.record());
  waits.end_all_now();
  bench.run(2, 2s);
  CHECK(bench.ended == std::vector<bool>{true, true});
  CHECK(waits.waiting() == 0);
}

TEST_CASE("retry waits: cancel_all ends every wait as not due", "[retry_waits]") {
  WaitBench bench;
  RetryWaits waits(bench.io, bench.log, bench.scheduler, "demo/1.0", {60s, 60s});
  waits.wait(1, std::nullopt, bench.record());
  waits.cancel_all();
  bench.run(1, 2s);
  CHECK(bench.ended == std::vector<bool>{false});
  CHECK(waits.waiting() == 0);
}

TEST_CASE("retry waits: a Retry-After holds the whole host and sets the wait's floor",
          "[retry_waits]") {
  WaitBench bench;
  RetryWaits waits(bench.io, bench.log, bench.scheduler, "demo/1.0", {1ms, 1ms});
  waits.wait(1, std::chrono::seconds(30), bench.record());
  const auto held = bench.scheduler.held_until();
  REQUIRE(held);
  CHECK(*held - std::chrono::steady_clock::now() > 25s);
  bench.run(1, 100ms);
  CHECK(bench.ended.empty());  // 30 s, not the 1 ms back-off
  waits.end_all_now();
  bench.run(1, 2s);
  CHECK(bench.ended == std::vector<bool>{true});
}
