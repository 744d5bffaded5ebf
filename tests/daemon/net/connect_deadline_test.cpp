// SPDX-License-Identifier: MIT
#include "daemon/net/connect_deadline.hpp"

#include <catch2/catch.hpp>

using pnsync::ConnectDeadline;
using std::chrono::milliseconds;

TEST_CASE("connect deadline: the configured time-out until the host has shaken hands",
          "[connect]") {
  const ConnectDeadline deadline(milliseconds(10'000));
  CHECK(deadline.timeout() == milliseconds(10'000));
}

TEST_CASE("connect deadline: ten times the slowest recent handshake, within 3 s and the setting",
          "[connect]") {
  ConnectDeadline deadline(milliseconds(10'000));
  deadline.observe(milliseconds(120));
  CHECK(deadline.timeout() == milliseconds(3000));  // 1.2 s is below the least
  deadline.observe(milliseconds(450));
  deadline.observe(milliseconds(200));
  CHECK(deadline.timeout() == milliseconds(4500));  // the slowest counts, not the last
  deadline.observe(milliseconds(2000));
  CHECK(deadline.timeout() == milliseconds(10'000));  // never past the setting
}

TEST_CASE("connect deadline: a slow handshake is forgotten after 32 faster ones", "[connect]") {
  ConnectDeadline deadline(milliseconds(30'000));
  deadline.observe(milliseconds(900));
  for (int i = 0; i < 31; ++i) deadline.observe(milliseconds(100));
  CHECK(deadline.timeout() == milliseconds(9000));
  deadline.observe(milliseconds(100));
  CHECK(deadline.timeout() == milliseconds(3000));
}
