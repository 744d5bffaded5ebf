// SPDX-License-Identifier: MIT
#include "daemon/service/sd_notify.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace pnsync {
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// A positive decimal number, all digits; what systemd writes into both watchdog variables.
std::optional<std::uint64_t> positive_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value;
}

Error setting_error(std::string_view variable, std::string_view value, std::string_view why) {
  return Error{ErrorKind::LocalStorage, "$" + std::string(variable) + "=\"" + std::string(value) +
                                            "\": " + std::string(why)};
}

}  // namespace

NotifyEnvironment NotifyEnvironment::from_process() {
  return {env("NOTIFY_SOCKET"), env("WATCHDOG_USEC"), env("WATCHDOG_PID")};
}

SystemdNotifier::SystemdNotifier(UniqueFd fd, sockaddr_un address, socklen_t address_length,
                                 std::string socket_name,
                                 std::optional<std::chrono::microseconds> watchdog)
    : fd_(std::move(fd)),
      address_(address),
      address_length_(address_length),
      socket_name_(std::move(socket_name)),
      watchdog_(watchdog) {}

Result<SystemdNotifier> SystemdNotifier::from_environment() {
  return create(NotifyEnvironment::from_process(), ::getpid());
}

Result<SystemdNotifier> SystemdNotifier::create(const NotifyEnvironment& env, pid_t self) {
  if (!env.notify_socket) return SystemdNotifier{};
  const std::string& name = *env.notify_socket;

  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socklen_t length = 0;
  // sun_path holds a path with its terminating NUL, or (abstract) a NUL and the name unterminated.
  constexpr std::size_t kRoom = sizeof(address.sun_path) - 1;
  if (name.starts_with('@')) {
    const std::string_view abstract = std::string_view(name).substr(1);
    if (abstract.empty() || abstract.size() > kRoom)
      return setting_error(
          "NOTIFY_SOCKET", name,
          "an abstract socket name must have 1.." + std::to_string(kRoom) + " bytes after '@'");
    std::memcpy(address.sun_path + 1, abstract.data(), abstract.size());
    // The kernel takes every byte up to `length` as the name, so the length must be exact.
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
  } else if (name.starts_with('/')) {
    if (name.size() > kRoom)
      return setting_error("NOTIFY_SOCKET", name,
                           "socket path longer than " + std::to_string(kRoom) + " bytes");
    std::memcpy(address.sun_path, name.data(), name.size());
    length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
  } else {
    // systemd 254 added "vsock:CID:PORT" for virtual machines; Debian 12 ships 252.
    return setting_error("NOTIFY_SOCKET", name,
                         "must be an absolute socket path or @abstract-name (AF_VSOCK addresses "
                         "are not supported)");
  }

  std::optional<std::chrono::microseconds> watchdog;
  if (env.watchdog_usec) {
    const auto usec = positive_number(*env.watchdog_usec);
    if (!usec)
      return setting_error("WATCHDOG_USEC", *env.watchdog_usec,
                           "must be a positive number of microseconds");
    bool for_us = true;
    if (env.watchdog_pid) {
      const auto pid = positive_number(*env.watchdog_pid);
      if (!pid) return setting_error("WATCHDOG_PID", *env.watchdog_pid, "must be a process id");
      // Set for another process (a wrapper script that exec'd something else): not ours to ping.
      for_us = *pid == static_cast<std::uint64_t>(self);
    }
    if (for_us) watchdog = std::chrono::microseconds(*usec);
  }

  // Non-blocking: a notification that cannot be queued at once is reported, never waited for.
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return local_error("create a socket for $NOTIFY_SOCKET", name, errno);
  return SystemdNotifier(std::move(fd), address, length, name, watchdog);
}

std::optional<std::chrono::microseconds> SystemdNotifier::watchdog_ping_interval() const {
  if (!watchdog_) return std::nullopt;
  return std::max(std::chrono::microseconds(1), *watchdog_ / 2);
}

Result<void> SystemdNotifier::send(std::string_view message) {
  if (!enabled()) return {};
  for (;;) {
    const ssize_t sent = ::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&address_), address_length_);
    if (sent == static_cast<ssize_t>(message.size())) return {};
    if (sent < 0 && errno == EINTR) continue;
    const int error = sent < 0 ? errno : EMSGSIZE;  // a datagram is never sent in part
    return local_error("notify systemd through", socket_name_, error);
  }
}

Result<void> SystemdNotifier::ready() {
  return send("READY=1");
}

Result<void> SystemdNotifier::status(std::string_view text) {
  // A newline would start a new assignment that systemd would act on; a NUL would end the text.
  std::string message = "STATUS=";
  message.reserve(message.size() + text.size());
  for (const char c : text) message += (c == '\n' || c == '\r' || c == '\0') ? ' ' : c;
  return send(message);
}

Result<void> SystemdNotifier::reloading() {
  if (!enabled()) return {};
  // systemd >= 253 (Type=notify-reload) needs MONOTONIC_USEC to tell this reload from an older
  // one; 252 ignores it. CLOCK_MONOTONIC is the clock systemd compares it with.
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
                    static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
  return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

Result<void> SystemdNotifier::stopping() {
  return send("STOPPING=1");
}

Result<void> SystemdNotifier::watchdog() {
  return send("WATCHDOG=1");
}

}  // namespace pnsync
