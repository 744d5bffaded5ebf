// SPDX-License-Identifier: MIT
// How long a new connection to the host may take before it counts as hanging.
//
// A server at its connection ceiling (physionet.org near 24) lets further connects hang until
// they time out instead of refusing them, and every request waiting on such a connect waits with
// it. Once the host has shaken hands a few times, a handshake that takes ten times the slowest it
// gave recently is no slow network but that hang: it is given up early (at least `kLeast`, at
// most the configured connect_timeout), so that the controller learns the ceiling in seconds and
// the requests go on the connections that work. Pure: the caller reports handshakes and reads the
// deadline (tests/daemon/net/connect_deadline_test.cpp).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>

namespace pnsync {

class ConnectDeadline {
public:
  using Duration = std::chrono::milliseconds;
  static constexpr Duration kLeast{3000};
  static constexpr int kHangFactor = 10;
  static constexpr std::size_t kRemembered = 32;

  explicit ConnectDeadline(Duration configured) : configured_(configured) {}

  // A new connection was made: TCP connect and TLS handshake took `took`.
  void observe(Duration took);
  // The connect time-out for the next request.
  Duration timeout() const;

private:
  Duration configured_;
  std::array<Duration, kRemembered> recent_{};
  std::size_t seen_ = 0;  // handshakes observed; recent_ holds the last kRemembered
};

}  // namespace pnsync
