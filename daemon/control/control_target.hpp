// SPDX-License-Identifier: MIT
// What the control server asks of the daemon. The server owns the socket, framing, peer
// credentials and permissions; the target (the engine) only answers requests that are allowed.
#pragma once

#include "protocol/messages.hpp"

namespace pnsync {

class ControlTarget {
public:
  virtual ~ControlTarget() = default;
  // Called on the event loop thread, only for methods other than Hello and only when the peer
  // may call them. Unknown mirrors, bad values and failures come back as Response errors.
  virtual protocol::Response handle(const protocol::Request& request) = 0;

protected:
  ControlTarget() = default;
  ControlTarget(const ControlTarget&) = default;
  ControlTarget& operator=(const ControlTarget&) = default;
  ControlTarget(ControlTarget&&) = default;
  ControlTarget& operator=(ControlTarget&&) = default;
};

}  // namespace pnsync
