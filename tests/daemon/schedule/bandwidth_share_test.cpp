// SPDX-License-Identifier: MIT
#include "daemon/schedule/bandwidth_share.hpp"

#include <catch2/catch.hpp>

using pnsync::per_request_recv_cap;

TEST_CASE("bandwidth share: a limit is split evenly among the file slots, the tighter one wins",
          "[bandwidth_share]") {
  struct Row {
    std::int64_t host, mirror;
    int slots;
    std::int64_t cap;
  };
  const Row rows[] = {
      {0, 0, 16, 0},                          // no limit anywhere
      {16'000'000, 0, 16, 1'000'000},         // the host's, over 16 slots
      {0, 8'000'000, 4, 2'000'000},           // the mirror's alone
      {16'000'000, 8'000'000, 8, 1'000'000},  // the mirror's is tighter
      {4'000'000, 8'000'000, 8, 500'000},     // the host's is tighter
      {1'000, 0, 0, 1'000},                   // no slot count yet: one request takes it all
      {10, 0, 64, 1},                         // never 0 (which would mean no limit)
  };
  for (const auto& row : rows) {
    INFO("host " << row.host << ", mirror " << row.mirror << ", slots " << row.slots);
    CHECK(per_request_recv_cap(row.host, row.mirror, row.slots) == row.cap);
  }
}
