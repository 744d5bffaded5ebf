// SPDX-License-Identifier: MIT
// Wall-clock seconds, as the store and the control protocol record times (crawl completion,
// last sync, next pass).
#pragma once

#include <cstdint>
#include <ctime>

namespace pnsync {

inline std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

}  // namespace pnsync
