// SPDX-License-Identifier: MIT
// One request in, one response out: the hello/version exchange and the permission check happen
// here, everything else goes to the engine's ControlTarget. No I/O, so it is tested directly.
#pragma once

#include "daemon/control/control_access.hpp"
#include "daemon/control/control_target.hpp"
#include "protocol/messages.hpp"

namespace pnsync {

class ControlDispatcher {
public:
  ControlDispatcher(ControlTarget& target, AccessPolicy policy)
      : target_(target), policy_(std::move(policy)) {}
  protocol::Response answer(const protocol::Request& request, const PeerCredentials& peer);

private:
  ControlTarget& target_;
  AccessPolicy policy_;
};

}  // namespace pnsync
