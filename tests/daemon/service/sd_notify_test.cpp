// SPDX-License-Identifier: MIT
// The notifier against real AF_UNIX datagram sockets standing in for systemd: what arrives must be
// exactly what sd_notify(3) specifies, byte for byte, for a path and for an abstract name.
#include "daemon/service/sd_notify.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <regex>
#include <string>

#include "tests/support/sandbox.hpp"

using pnsync::NotifyEnvironment;
using pnsync::SystemdNotifier;
using pnsync::UniqueFd;
using namespace std::chrono_literals;

namespace {

// What systemd does on its side: a bound datagram socket. `name` is a path or "@abstract".
class FakeSystemd {
public:
  explicit FakeSystemd(const std::string& name) : fd_(::socket(AF_UNIX, SOCK_DGRAM, 0)) {
    REQUIRE(fd_);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socklen_t length = 0;
    if (name.starts_with('@')) {
      std::memcpy(address.sun_path + 1, name.data() + 1, name.size() - 1);
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    } else {
      std::memcpy(address.sun_path, name.data(), name.size());
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
    }
    REQUIRE(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), length) == 0);
  }

  // The next datagram, whole (MSG_TRUNC reports its real size), or "" after 2 s.
  std::string receive() {
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 2000) != 1) return "";
    std::string buffer(4096, '\0');
    const ssize_t size = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_TRUNC);
    REQUIRE(size >= 0);
    REQUIRE(static_cast<std::size_t>(size) <= buffer.size());
    buffer.resize(static_cast<std::size_t>(size));
    return buffer;
  }

  bool idle() {
    pollfd pfd{fd_.get(), POLLIN, 0};
    return ::poll(&pfd, 1, 0) == 0;
  }

private:
  UniqueFd fd_;
};

std::string unique_abstract_name() {
  std::random_device seed;
  return "@pnsync-test/" + std::to_string(::getpid()) + "/" + std::to_string(seed());
}

SystemdNotifier make_notifier(const NotifyEnvironment& env) {
  auto notifier = SystemdNotifier::create(env, ::getpid());
  INFO((notifier ? "" : notifier.error().message));
  REQUIRE(notifier);
  return std::move(notifier).value();
}

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

std::size_t open_fds() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++count;
  return count;
}

}  // namespace

TEST_CASE_METHOD(pnsync::test::Sandbox, "every message arrives as one exact datagram at a path",
                 "[sd_notify]") {
  const std::string path = (*this / "notify").string();
  FakeSystemd systemd(path);
  SystemdNotifier notifier = make_notifier({.notify_socket = path});
  CHECK(notifier.enabled());
  CHECK(notifier.socket_name() == path);

  REQUIRE(notifier.ready());
  CHECK(systemd.receive() == "READY=1");
  REQUIRE(notifier.status("mimic-cxr/2.0.0: 1200 of 377110 files, 2.1 GiB/s"));
  CHECK(systemd.receive() == "STATUS=mimic-cxr/2.0.0: 1200 of 377110 files, 2.1 GiB/s");
  REQUIRE(notifier.stopping());
  CHECK(systemd.receive() == "STOPPING=1");
  REQUIRE(notifier.watchdog());
  CHECK(systemd.receive() == "WATCHDOG=1");
  CHECK(systemd.idle());
}

TEST_CASE("an @name in NOTIFY_SOCKET is an abstract socket", "[sd_notify]") {
  const std::string name = unique_abstract_name();
  FakeSystemd systemd(name);
  SystemdNotifier notifier = make_notifier({.notify_socket = name});
  REQUIRE(notifier.ready());
  CHECK(systemd.receive() == "READY=1");
  REQUIRE(notifier.status("idle"));
  CHECK(systemd.receive() == "STATUS=idle");
}

TEST_CASE("RELOADING=1 carries the CLOCK_MONOTONIC time it was sent", "[sd_notify]") {
  const std::string name = unique_abstract_name();
  FakeSystemd systemd(name);
  SystemdNotifier notifier = make_notifier({.notify_socket = name});
  const std::uint64_t before = monotonic_usec();
  REQUIRE(notifier.reloading());
  const std::uint64_t after = monotonic_usec();

  const std::string message = systemd.receive();
  std::smatch match;
  REQUIRE(std::regex_match(message, match, std::regex("RELOADING=1\nMONOTONIC_USEC=([0-9]+)")));
  const std::uint64_t sent = std::stoull(match[1]);
  CHECK(sent >= before);
  CHECK(sent <= after);
}

TEST_CASE("a STATUS text cannot smuggle in another assignment", "[sd_notify]") {
  const std::string name = unique_abstract_name();
  FakeSystemd systemd(name);
  SystemdNotifier notifier = make_notifier({.notify_socket = name});
  REQUIRE(notifier.status(std::string("listing\nREADY=1\r\0x", 18)));
  CHECK(systemd.receive() == "STATUS=listing READY=1  x");
}

TEST_CASE("without NOTIFY_SOCKET every call is a successful no-op", "[sd_notify]") {
  const std::size_t fds_before = open_fds();
  SystemdNotifier notifier = make_notifier({.watchdog_usec = "30000000"});
  CHECK_FALSE(notifier.enabled());
  CHECK(open_fds() == fds_before);  // no socket was created
  // No socket to ping: the watchdog cannot be served, so it is not reported as armed.
  CHECK_FALSE(notifier.watchdog_timeout());
  CHECK(notifier.ready());
  CHECK(notifier.status("x"));
  CHECK(notifier.reloading());
  CHECK(notifier.stopping());
  CHECK(notifier.watchdog());
  CHECK(SystemdNotifier{}.ready());
}

TEST_CASE("the watchdog is armed only for this process", "[sd_notify]") {
  using std::chrono::microseconds;
  const std::string self = std::to_string(::getpid());
  const std::string other = std::to_string(::getpid() + 1);
  const auto [usec, pid, timeout, ping] =
      GENERATE_COPY(table<std::optional<std::string>, std::optional<std::string>,
                          std::optional<microseconds>, std::optional<microseconds>>({
          {std::nullopt, std::nullopt, std::nullopt, std::nullopt},
          {"30000000", std::nullopt, microseconds(30000000), microseconds(15000000)},
          {"30000000", self, microseconds(30000000), microseconds(15000000)},
          {"30000000", other, std::nullopt, std::nullopt},  // exported for someone else
          {"1", self, microseconds(1), microseconds(1)},    // never a zero interval
      }));
  CAPTURE(usec, pid);
  SystemdNotifier notifier = make_notifier(
      {.notify_socket = unique_abstract_name(), .watchdog_usec = usec, .watchdog_pid = pid});
  CHECK(notifier.watchdog_timeout() == timeout);
  CHECK(notifier.watchdog_ping_interval() == ping);
}

TEST_CASE("a malformed environment is refused, naming the variable and its value", "[sd_notify]") {
  const std::string too_long(200, 'x');
  const auto [env, expected] = GENERATE_COPY(table<NotifyEnvironment, std::string>({
      {{.notify_socket = "run/systemd/notify"}, "$NOTIFY_SOCKET=\"run/systemd/notify\": must be"},
      {{.notify_socket = ""}, "$NOTIFY_SOCKET=\"\": must be"},
      {{.notify_socket = "vsock:2:1234"}, "AF_VSOCK addresses are not supported"},
      {{.notify_socket = "@"}, "$NOTIFY_SOCKET=\"@\": an abstract socket name must have"},
      {{.notify_socket = "/" + too_long}, "socket path longer than 107 bytes"},
      {{.notify_socket = "@" + too_long}, "abstract socket name must have 1..107 bytes"},
      {{.notify_socket = "@x", .watchdog_usec = "30s"}, "$WATCHDOG_USEC=\"30s\": must be"},
      {{.notify_socket = "@x", .watchdog_usec = "0"}, "$WATCHDOG_USEC=\"0\": must be"},
      {{.notify_socket = "@x", .watchdog_usec = "-5"}, "$WATCHDOG_USEC=\"-5\": must be"},
      {{.notify_socket = "@x", .watchdog_usec = "1", .watchdog_pid = "me"},
       "$WATCHDOG_PID=\"me\": must be a process id"},
  }));
  const auto notifier = SystemdNotifier::create(env, ::getpid());
  REQUIRE_FALSE(notifier);
  CHECK_THAT(notifier.error().message, Catch::Contains(expected));
}

TEST_CASE_METHOD(pnsync::test::Sandbox, "a send nobody receives is an error naming the socket",
                 "[sd_notify]") {
  const std::string path = (*this / "gone").string();
  SystemdNotifier notifier = make_notifier({.notify_socket = path});
  const auto sent = notifier.ready();
  REQUIRE_FALSE(sent);
  CHECK_THAT(sent.error().message, Catch::StartsWith("notify systemd through " + path + ": "));
}

TEST_CASE("the notifier owns exactly one socket, closed with it", "[sd_notify]") {
  const std::size_t fds_before = open_fds();
  {
    SystemdNotifier notifier = make_notifier({.notify_socket = unique_abstract_name()});
    CHECK(open_fds() == fds_before + 1);
    SystemdNotifier moved = std::move(notifier);
    CHECK(open_fds() == fds_before + 1);
    CHECK(moved.enabled());
  }
  CHECK(open_fds() == fds_before);
}
