// SPDX-License-Identifier: MIT
#include "daemon/schedule/bandwidth_share.hpp"

#include <algorithm>

namespace pnsync {

std::int64_t per_request_recv_cap(std::int64_t host_limit, std::int64_t mirror_limit,
                                  int file_slots) {
  std::int64_t cap = host_limit;
  if (mirror_limit > 0) cap = cap > 0 ? std::min(cap, mirror_limit) : mirror_limit;
  if (cap <= 0) return 0;
  return std::max<std::int64_t>(1, cap / std::max(1, file_slots));
}

}  // namespace pnsync
