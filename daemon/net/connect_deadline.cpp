// SPDX-License-Identifier: MIT
#include "daemon/net/connect_deadline.hpp"

#include <algorithm>

namespace pnsync {

void ConnectDeadline::observe(Duration took) {
  recent_[seen_ % kRemembered] = took;
  ++seen_;
}

ConnectDeadline::Duration ConnectDeadline::timeout() const {
  if (seen_ == 0) return configured_;  // the first contact may be slow for reasons of its own
  const auto filled = recent_.begin() + static_cast<std::ptrdiff_t>(std::min(seen_, kRemembered));
  const Duration slowest = *std::max_element(recent_.begin(), filled);
  return std::min(configured_, std::max(kLeast, slowest * kHangFactor));
}

}  // namespace pnsync
