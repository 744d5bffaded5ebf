// SPDX-License-Identifier: MIT
// Who is on the other end of a control connection, and whether they may change things.
// Anyone who can connect to the socket (mode 0660: the daemon's user and group) may read
// status; changing methods need root, the daemon's own user, or membership of `control_group`.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace pnsync {

// As the kernel recorded them when the peer called connect(): a peer cannot change them
// afterwards, and they cannot be spoofed by what the peer writes.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups
};

// SO_PEERCRED, plus SO_PEERGROUPS (Linux 4.13) for the supplementary groups. Where the kernel
// lacks SO_PEERGROUPS, falls back to the groups /etc/group gives the peer's user (getgrouplist):
// the user's configured groups rather than the process's own.
Result<PeerCredentials> peer_credentials(int socket_fd);

class AccessPolicy {
public:
  // Resolves the group name now, so a typo in `control_group` stops the daemon at start-up
  // rather than surfacing at the first `pause`.
  static Result<AccessPolicy> make(const std::optional<std::string>& control_group,
                                   uid_t daemon_uid);
  bool may_change(const PeerCredentials& peer) const;
  // "root, user pnsync (uid 998) or members of group pnsync-admin": for NotPermitted messages.
  std::string who_may_change() const;

private:
  AccessPolicy(uid_t daemon_uid, std::optional<gid_t> group, std::string group_name)
      : daemon_uid_(daemon_uid), group_(group), group_name_(std::move(group_name)) {}
  uid_t daemon_uid_;
  std::optional<gid_t> group_;
  std::string group_name_;
};

}  // namespace pnsync
