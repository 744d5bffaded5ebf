// SPDX-License-Identifier: MIT
#include "common/progress.hpp"

#include <catch2/catch.hpp>

using namespace pnsync;
using namespace std::chrono_literals;

TEST_CASE("byte counts use IEC units", "[progress]") {
  auto [bytes, text] = GENERATE(table<std::int64_t, std::string>({
      {0, "0 B"},
      {1023, "1023 B"},
      {1024, "1.0 KiB"},
      {1536, "1.5 KiB"},
      {5LL << 30, "5.0 GiB"},
      {4700LL * 1000 * 1000 * 1000, "4.3 TiB"},
  }));
  CHECK(format_bytes(bytes) == text);
}

TEST_CASE("durations read like a person would say them", "[progress]") {
  auto [seconds, text] = GENERATE(table<long long, std::string>(
      {{5, "5s"}, {65, "1m05s"}, {3600 * 3 + 120, "3h02m"}, {86400 * 84 + 3600, "84d01h"}}));
  CHECK(format_duration(std::chrono::seconds(seconds)) == text);
}

TEST_CASE("the rate follows a sliding window", "[progress]") {
  RateMeter meter(10s);
  const auto start = std::chrono::steady_clock::time_point{};
  meter.sample(start, 0);
  CHECK(meter.bytes_per_second() == 0.0);
  meter.sample(start + 1s, 1000);
  CHECK(meter.bytes_per_second() == Approx(1000.0));
  // After a long idle stretch the old fast samples fall out of the window.
  meter.sample(start + 30s, 1000);
  meter.sample(start + 31s, 1000);
  CHECK(meter.bytes_per_second() == Approx(0.0));
}

TEST_CASE("ETA is unknown without a rate", "[progress]") {
  CHECK_FALSE(eta(100, 0.0));
  CHECK(eta(1000, 100.0) == std::chrono::seconds(10));
}
