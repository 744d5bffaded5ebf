// SPDX-License-Identifier: MIT
// How a bandwidth limit becomes a receive-rate cap per request. libcurl caps one transfer at a
// time (CURLOPT_MAX_RECV_SPEED_LARGE), so a limit for the host or a mirror is shared evenly among
// the file slots; the engine recomputes the caps whenever the limit or the slot count changes and
// pushes them down to the mirrors, which give them to each request they start.
#pragma once

#include <cstdint>

namespace pnsync {

// The cap (bytes/s) for one request of a mirror: the tighter of the host's `bandwidth_limit` and
// the mirror's own (0 = none), shared among `file_slots` requests at once; at least 1 when there is
// a limit, 0 when there is none.
std::int64_t per_request_recv_cap(std::int64_t host_limit, std::int64_t mirror_limit,
                                  int file_slots);

}  // namespace pnsync
