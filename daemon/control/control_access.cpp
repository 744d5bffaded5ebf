// SPDX-License-Identifier: MIT
#include "daemon/control/control_access.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pnsync {
namespace {

// getpw*_r/getgr*_r want a caller-sized buffer; sysconf may say "no limit" (-1).
std::size_t name_buffer_size() {
  const long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  return suggested > 0 ? static_cast<std::size_t>(suggested) * 4 : 64 * 1024;
}

std::optional<std::string> user_name(uid_t uid) {
  std::vector<char> buffer(name_buffer_size());
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr)
    return std::nullopt;
  return std::string(entry.pw_name);
}

std::vector<gid_t> groups_of_user(uid_t uid, gid_t primary) {
  const std::optional<std::string> name = user_name(uid);
  if (!name) return {};
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  while (::getgrouplist(name->c_str(), primary, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count) + 16);  // count now says how many there are
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

Result<std::vector<gid_t>> socket_peer_groups(int socket_fd) {
  std::vector<gid_t> groups(64);
  for (;;) {
    auto length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0) {
      groups.resize(length / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) return Error{ErrorKind::LocalStorage, "SO_PEERGROUPS", errno};
    groups.resize(length / sizeof(gid_t) + 1);  // the kernel said how much it needs
  }
}

}  // namespace

Result<PeerCredentials> peer_credentials(int socket_fd) {
  ucred credentials{};
  socklen_t length = sizeof credentials;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0)
    return local_error("cannot read peer credentials (SO_PEERCRED) of", "a control connection",
                       errno);
  PeerCredentials peer{credentials.pid, credentials.uid, credentials.gid, {}};
  Result<std::vector<gid_t>> groups = socket_peer_groups(socket_fd);
  if (groups)
    peer.groups = std::move(groups).value();
  else if (groups.error().errno_value == ENOPROTOOPT)  // kernel older than 4.13
    peer.groups = groups_of_user(peer.uid, peer.gid);
  else
    return local_error("cannot read peer groups (SO_PEERGROUPS) of", "a control connection",
                       groups.error().errno_value);
  return peer;
}

Result<AccessPolicy> AccessPolicy::make(const std::optional<std::string>& control_group,
                                        uid_t daemon_uid) {
  if (!control_group) return AccessPolicy(daemon_uid, std::nullopt, {});
  std::vector<char> buffer(name_buffer_size());
  group entry{};
  group* found = nullptr;
  const int status =
      ::getgrnam_r(control_group->c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (status != 0)
    return local_error("control_group: cannot look up group", *control_group, status);
  if (found == nullptr) {
    return Error{ErrorKind::LocalStorage,
                 "control_group: no group named \"" + *control_group + "\" on this system", 0};
  }
  return AccessPolicy(daemon_uid, entry.gr_gid, *control_group);
}

bool AccessPolicy::may_change(const PeerCredentials& peer) const {
  if (peer.uid == 0 || peer.uid == daemon_uid_) return true;
  if (!group_) return false;
  return peer.gid == *group_ ||
         std::find(peer.groups.begin(), peer.groups.end(), *group_) != peer.groups.end();
}

std::string AccessPolicy::who_may_change() const {
  std::vector<std::string> who = {"root"};
  if (daemon_uid_ != 0) {
    const std::optional<std::string> name = user_name(daemon_uid_);
    who.push_back("user " + name.value_or("#" + std::to_string(daemon_uid_)) + " (uid " +
                  std::to_string(daemon_uid_) + ")");
  }
  if (group_) who.push_back("members of group " + group_name_ + " (control_group)");
  std::string text;
  for (std::size_t i = 0; i < who.size(); ++i) {
    if (i > 0) text += i + 1 == who.size() ? " or " : ", ";
    text += who[i];
  }
  return text;
}

}  // namespace pnsync
