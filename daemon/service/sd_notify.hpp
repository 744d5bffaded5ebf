// SPDX-License-Identifier: MIT
// The systemd notification protocol (sd_notify(3)), implemented directly: one datagram per message
// to the AF_UNIX socket named by $NOTIFY_SOCKET. systemd documents the protocol as stable and
// meant to be reimplemented, so pnsyncd does not link libsystemd for five short strings.
//
// Not under systemd (no $NOTIFY_SOCKET) every call is a successful no-op, so the daemon calls the
// notifier unconditionally. Sends never block: a full socket buffer is reported, not waited on,
// because the notifier is called from the event loop.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "daemon/disk/local_tree.hpp"  // UniqueFd

namespace pnsync {

// The three variables systemd sets for a Type=notify service with WatchdogSec=, as read from the
// process environment. Separate from the notifier so tests can build one without setenv().
struct NotifyEnvironment {
  std::optional<std::string> notify_socket{};  // $NOTIFY_SOCKET: "/run/..." or "@abstract-name"
  std::optional<std::string> watchdog_usec{};  // $WATCHDOG_USEC: the watchdog timeout
  std::optional<std::string> watchdog_pid{};   // $WATCHDOG_PID: the process the watchdog is for

  static NotifyEnvironment from_process();
};

class SystemdNotifier {
public:
  // A notifier that does nothing (not started by systemd).
  SystemdNotifier() = default;

  // Reads the environment; `self` is this process's pid, compared with $WATCHDOG_PID. Fails, naming
  // the variable and its value, when $NOTIFY_SOCKET is neither an absolute path nor "@name" or is
  // too long for sockaddr_un, when $WATCHDOG_USEC or $WATCHDOG_PID is not a positive number, or
  // when the socket cannot be created.
  static Result<SystemdNotifier> create(const NotifyEnvironment& env, pid_t self);
  static Result<SystemdNotifier> from_environment();  // create(from_process(), getpid())

  // True when $NOTIFY_SOCKET was set: messages really go somewhere.
  bool enabled() const { return static_cast<bool>(fd_); }
  // The socket as given, for messages ("@/org/freedesktop/systemd1/notify"); empty when disabled.
  const std::string& socket_name() const { return socket_name_; }

  // The watchdog timeout (WatchdogSec=) when systemd expects pings from this process, nullopt
  // otherwise (no $WATCHDOG_USEC, or $WATCHDOG_PID names another process). Ping at half of it, as
  // sd_watchdog_enabled(3) advises: watchdog_ping_interval() does the division.
  std::optional<std::chrono::microseconds> watchdog_timeout() const { return watchdog_; }
  std::optional<std::chrono::microseconds> watchdog_ping_interval() const;

  Result<void> ready();                   // READY=1: start-up done (or a reload finished)
  Result<void> status(std::string_view);  // STATUS=...: one line shown by `systemctl status`
  Result<void> reloading();               // RELOADING=1 + MONOTONIC_USEC=now (SIGHUP received)
  Result<void> stopping();                // STOPPING=1: shutdown began (SIGTERM received)
  Result<void> watchdog();                // WATCHDOG=1: the event loop is alive

  // One datagram of newline-separated VAR=value assignments, exactly as given.
  Result<void> send(std::string_view message);

private:
  SystemdNotifier(UniqueFd fd, sockaddr_un address, socklen_t address_length,
                  std::string socket_name, std::optional<std::chrono::microseconds> watchdog);

  UniqueFd fd_;  // unbound SOCK_DGRAM, kept for the process lifetime: no socket() per ping
  sockaddr_un address_{};
  socklen_t address_length_ = 0;
  std::string socket_name_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace pnsync
