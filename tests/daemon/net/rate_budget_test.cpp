// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "daemon/net/rate_budget.hpp"

using pnsync::RateBudget;
using namespace std::chrono_literals;

TEST_CASE("a rate budget lends a burst, then pays its debt off at the rate", "[rate_budget]") {
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  RateBudget budget(1 << 20, t0);  // 1 MiB/s: a burst of 256 KiB, a quantum of 20 KiB
  CHECK(budget.burst() == 256 * 1024);
  CHECK(budget.quantum() == (1 << 20) / 50);
  REQUIRE(budget.open(t0));
  CHECK(budget.wait(t0) == 0s);

  // A chunk larger than what is left is taken whole: the budget is in debt by 64 KiB.
  budget.spend(320 * 1024);
  CHECK_FALSE(budget.open(t0));
  // Paying off 64 KiB and saving a quantum (20 971 B) at 1 MiB/s: 82.5 ms.
  const auto wait = budget.wait(t0);
  CHECK(wait > 82ms);
  CHECK(wait < 83ms);
  CHECK_FALSE(budget.open(t0 + 60ms));  // 61.4 KiB paid back, not yet 64
  CHECK(budget.open(t0 + 65ms));
  CHECK(budget.wait(t0 + wait + 1ms) == 0s);

  // Idle for a minute: it saves no more than one burst.
  REQUIRE(budget.open(t0 + 60s));
  budget.spend(budget.burst() + 1);
  CHECK_FALSE(budget.open(t0 + 60s));
}

TEST_CASE("an unlimited budget is always open and counts nothing", "[rate_budget]") {
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  RateBudget budget(0, t0);
  budget.spend(std::int64_t{1} << 40);
  CHECK(budget.open(t0));
  CHECK(budget.wait(t0) == 0s);
  CHECK(budget.unlimited());
}

TEST_CASE("a new rate takes effect at once and keeps no more than its own burst", "[rate_budget]") {
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  RateBudget budget(100 << 20, t0);  // 100 MiB/s: a 25 MiB burst
  budget.set_rate(1 << 20, t0);      // now 1 MiB/s: what was saved shrinks to 256 KiB
  budget.spend(256 * 1024);
  CHECK_FALSE(budget.open(t0));
  CHECK(budget.wait(t0) > 19ms);

  // A limit lifted: whatever debt there was no longer holds anyone.
  budget.spend(std::int64_t{1} << 30);
  budget.set_rate(0, t0);
  CHECK(budget.open(t0));
  // And set again: the debt is gone.
  budget.set_rate(1 << 20, t0);
  CHECK(budget.open(t0));
}

TEST_CASE("a tiny rate still waits for a whole write chunk, never less", "[rate_budget]") {
  const auto t0 = RateBudget::Clock::time_point{} + 1h;
  RateBudget budget(1000, t0);  // 1000 B/s: the minimums apply
  CHECK(budget.burst() == 64 * 1024);
  CHECK(budget.quantum() == 16 * 1024);
  budget.spend(budget.burst());
  CHECK(budget.wait(t0) == std::chrono::duration_cast<RateBudget::Clock::duration>(16384ms));
}
