// SPDX-License-Identifier: MIT
// What the controller's tests share: parameters, and a table of intervals run through the
// controller with what each must decide.
#pragma once

#include "daemon/schedule/concurrency_controller.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace pnsync::test::controller {

using namespace std::chrono_literals;

inline constexpr auto kInterval = 2s;
inline constexpr double kMB = 1e6;
inline constexpr int kBusy = -1;  // every slot busy: as many active transfers as the limit in force

inline ControllerParams params(int initial = 4, int max = 16) {
  ControllerParams p;
  p.initial = initial;
  p.max = max;
  return p;
}

// `times` identical intervals of kInterval. The limit may change only after the last of them
// (anywhere when `walk`), to `limit`, with `reason` (not checked when empty) and `hold` as the
// host hold.
struct Step {
  int times = 1;
  bool walk = false;
  // Aggregate throughput: per_transfer MB/s for each active transfer, at most `cap` of them.
  double per_transfer = 0.65;
  double cap = 1000;
  int active = kBusy;
  int queued = 100;
  int completed = 0;
  ThrottleSignals signals{};
  std::optional<std::chrono::seconds> retry_after{};
  std::optional<double> transfer_rate{};  // MB/s
  std::optional<int> admitted{};          // Sample::admitted_at_refusal
  int limit = 0;
  std::string reason{};
  std::optional<std::chrono::seconds> hold{};
};

inline Sample sample_for(const Step& step, int limit) {
  const int active = step.active == kBusy ? limit : step.active;
  Sample sample;
  sample.duration = kInterval;
  sample.bytes =
      static_cast<std::int64_t>(step.per_transfer * kMB * std::min<double>(active, step.cap) * 2);
  sample.completed = step.completed;
  sample.active = active;
  sample.queued = step.queued;
  sample.signals = step.signals;
  sample.retry_after = step.retry_after;
  if (step.transfer_rate) sample.transfer_rate = *step.transfer_rate * kMB;
  sample.admitted_at_refusal = step.admitted;
  return sample;
}

inline void run(const ControllerParams& p, const std::vector<Step>& steps) {
  auto now = ControlClock::time_point{};
  ConcurrencyController controller(p, now);
  int interval = 0;
  for (const Step& step : steps) {
    const int before = controller.limit();
    for (int i = 0; i < step.times; ++i) {
      const int limit = controller.limit();
      now += kInterval;
      ++interval;
      const Decision decision = controller.observe(sample_for(step, limit), now);
      INFO("interval " << interval << " (t=" << interval * 2 << "s): limit " << decision.limit
                       << ", \"" << decision.reason << "\"");
      CHECK(decision.changed == (decision.limit != limit));
      CHECK(decision.limit == controller.limit());
      CHECK(decision.limit >= p.min);
      CHECK(decision.limit <= p.max);
      if (i + 1 < step.times) {
        if (!step.walk) REQUIRE(decision.limit == before);
        continue;
      }
      REQUIRE(decision.limit == step.limit);
      if (!step.reason.empty()) CHECK(decision.reason == step.reason);
      REQUIRE(decision.hold_host.has_value() == step.hold.has_value());
      if (step.hold) CHECK(decision.hold_host->count() == step.hold->count());
    }
  }
}

}  // namespace pnsync::test::controller
