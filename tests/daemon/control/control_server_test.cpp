// SPDX-License-Identifier: MIT
// The control server over a real Unix socket: framing, permissions by peer credentials, a client
// that misbehaves never holding up the others, and the socket file's life cycle.
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "daemon/control/control_dispatcher.hpp"
#include "protocol/codec.hpp"
#include "tests/daemon/control_fixture.hpp"
#include "tests/protocol/samples.hpp"

using namespace pnsync;
using namespace pnsync::test;
using protocol::ErrorCode;
using protocol::Method;

namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// A socket bound at `path`; listening or not. Closing it leaves the file behind, as a crashed
// daemon does.
UniqueFd bound_socket(const std::filesystem::path& path, bool listening) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  if (listening) REQUIRE(::listen(fd.get(), 4) == 0);
  return fd;
}

// Runs a client in a child process with the given credentials (the tests run as root) and
// returns the raw answer lines. Only system calls after fork(): the parent has threads.
std::vector<std::string> answers_as(const std::filesystem::path& socket, std::vector<gid_t> groups,
                                    const std::string& requests, std::size_t expected_lines) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(kNogroup) != 0 ||
        ::setuid(kNobody) != 0)
      ::_exit(10);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
      ::_exit(11);
    if (::write(fd, requests.data(), requests.size()) != static_cast<ssize_t>(requests.size()))
      ::_exit(12);
    char buffer[65536];
    std::size_t lines = 0;
    while (lines < expected_lines) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) lines += buffer[i] == '\n';
      if (::write(pipe_fds[1], buffer, static_cast<std::size_t>(n)) != n) ::_exit(13);
    }
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    output.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; (end = output.find('\n', start)) != std::string::npos;
       start = end + 1)
    lines.push_back(output.substr(start, end - start));
  return lines;
}

// A child process as `uid` (group nogroup, supplementary group root so the 0660 root:root
// socket lets it in) that opens `count` connections one after the other, sends hello on each and
// reads one answer line; it keeps them all open until the holder is destroyed. Only system calls
// after fork(): the parent has threads.
class ConnectionsHeldAs {
public:
  ConnectionsHeldAs(const std::filesystem::path& socket, uid_t uid, int count) {
    int report[2];
    int hold[2];
    REQUIRE(::pipe(report) == 0);
    REQUIRE(::pipe(hold) == 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    child_ = ::fork();
    REQUIRE(child_ >= 0);
    if (child_ == 0) {
      ::close(report[0]);
      ::close(hold[1]);
      const gid_t root_group = 0;
      if (::setgroups(1, &root_group) != 0 || ::setgid(kNogroup) != 0 || ::setuid(uid) != 0)
        ::_exit(10);
      static constexpr char kHello[] = "{\"id\":1,\"method\":\"hello\",\"version\":1}\n";
      for (int i = 0; i < count; ++i) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        const timeval timeout{10, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
          ::_exit(11);
        if (::send(fd, kHello, sizeof kHello - 1, MSG_NOSIGNAL) < 0) {
          // Refused before the hello was sent: the answer line may still be there to read.
        }
        char line[4096];
        std::size_t length = 0;
        while (length < sizeof line) {
          const ssize_t n = ::read(fd, line + length, 1);
          if (n <= 0 || line[length] == '\n') break;
          ++length;
        }
        line[length++] = '\n';
        if (::write(report[1], line, length) != static_cast<ssize_t>(length)) ::_exit(13);
      }
      char ignored;
      while (::read(hold[0], &ignored, 1) > 0) {
      }
      ::_exit(0);
    }
    ::close(report[1]);
    ::close(hold[0]);
    hold_ = hold[1];
    std::string output;
    char buffer[4096];
    while (std::count(output.begin(), output.end(), '\n') < count) {
      const ssize_t n = ::read(report[0], buffer, sizeof buffer);
      if (n <= 0) break;
      output.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(report[0]);
    for (std::size_t start = 0, end; (end = output.find('\n', start)) != std::string::npos;
         start = end + 1)
      lines.push_back(output.substr(start, end - start));
  }
  ~ConnectionsHeldAs() { release(); }
  ConnectionsHeldAs(const ConnectionsHeldAs&) = delete;
  ConnectionsHeldAs& operator=(const ConnectionsHeldAs&) = delete;
  // Closes the child's connections (it exits) and checks that it ran as it should.
  void release() {
    if (child_ <= 0) return;
    ::close(hold_);
    int status = 0;
    ::waitpid(child_, &status, 0);
    child_ = -1;
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }

  std::vector<std::string> lines;  // one per connection, the answer to its hello ("" if none)

private:
  pid_t child_ = -1;
  int hold_ = -1;
};

// A raw client for misbehaving on purpose (bytes that never end a line); sends never fail the
// test, since the server may already have closed the connection.
UniqueFd raw_client(const std::filesystem::path& socket) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  const timeval timeout{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

// True when the server ends the connection (end of stream or reset) within 10 s.
bool closed_within_10s(const UniqueFd& fd) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0) return false;
  }
}

protocol::Response decode(const std::string& line) {
  const auto decoded = protocol::decode_response(line);
  INFO(line);
  REQUIRE(decoded.ok());
  return decoded.value();
}

// The credential cases switch to uid nobody, which only root can do. CI runs the suite as root;
// elsewhere they say so instead of failing for the wrong reason.
bool can_switch_users() {
  if (::geteuid() == 0) return true;
  WARN("not root: cannot run a client as uid nobody; this case needs root");
  return false;
}

// Lets uid nobody reach the socket: through the sandbox (0700 from mkdtemp) and, by its
// supplementary group root, the socket itself (0660 root:root).
void open_sandbox_to_others(const ControlFixture& fixture) {
  REQUIRE(::chmod(fixture.sandbox.path().c_str(), 0711) == 0);
}

}  // namespace

TEST_CASE("hello is answered by the server and status by the target", "[control]") {
  ControlFixture fixture;
  fixture.target.set_status(sample_status());
  fixture.start();
  LineClient client(fixture.socket);

  const protocol::Response hello = client.call(R"({"id":1,"method":"hello","version":1})");
  CHECK(hello.ok());
  CHECK(hello.id == 1);
  CHECK(hello.hello_version == protocol::kProtocolVersion);

  const protocol::Response status = client.call(R"({"id":2,"method":"status"})");
  REQUIRE(status.ok());
  CHECK(status.id == 2);  // the target's -1 is replaced
  REQUIRE(status.status);
  CHECK(*status.status == sample_status());
  CHECK(fixture.target.calls() == std::vector<Method>{Method::Status});
}

TEST_CASE("a hello with another version is refused as unsupported", "[control]") {
  ControlFixture fixture;
  fixture.start();
  LineClient client(fixture.socket);
  const protocol::Response hello = client.call(R"({"id":1,"method":"hello","version":2})");
  CHECK(hello.error == ErrorCode::Unsupported);
  CHECK_THAT(hello.message, Catch::Contains("version 1") && Catch::Contains("version 2"));
  CHECK(fixture.target.calls().empty());
}

TEST_CASE("root may call changing methods", "[control]") {
  ControlFixture fixture;
  fixture.start();
  LineClient client(fixture.socket);
  for (const char* line : {R"({"id":1,"method":"pause"})", R"({"id":2,"method":"resume"})",
                           R"({"id":3,"method":"limit","value":1048576})",
                           R"({"id":4,"method":"transfers","value":0})"}) {
    const protocol::Response answer = client.call(line);
    INFO(line << " -> " << answer.message);
    CHECK(answer.ok());
  }
  CHECK(fixture.target.calls() ==
        std::vector<Method>{Method::Pause, Method::Resume, Method::Limit, Method::Transfers});
}

TEST_CASE("an unprivileged peer may read but not change", "[control]") {
  if (!can_switch_users()) return;
  ControlFixture fixture;
  open_sandbox_to_others(fixture);
  fixture.start();
  const std::vector<std::string> lines =
      answers_as(fixture.socket, {0},
                 "{\"id\":1,\"method\":\"pause\"}\n{\"id\":2,\"method\":\"status\"}\n"
                 "{\"id\":3,\"method\":\"plan\",\"mirror\":\"m/1\"}\n",
                 3);
  REQUIRE(lines.size() == 3);
  const protocol::Response pause = decode(lines[0]);
  CHECK(pause.error == ErrorCode::NotPermitted);
  CHECK(pause.id == 1);
  CHECK_THAT(pause.message, Catch::Contains("only root") && Catch::Contains("uid 65534"));
  CHECK(decode(lines[1]).ok());
  CHECK(decode(lines[2]).ok());
  CHECK(fixture.target.calls() == std::vector<Method>{Method::Status, Method::Plan});
}

TEST_CASE("members of control_group may change things", "[control]") {
  if (!can_switch_users()) return;
  const group* users = ::getgrnam("users");
  REQUIRE(users != nullptr);  // gid 100 on Debian
  const gid_t users_gid = users->gr_gid;
  ControlFixture fixture("users");
  open_sandbox_to_others(fixture);
  fixture.start();
  // Supplementary, not primary: the server must read the peer's groups, not only its gid.
  const std::vector<std::string> lines =
      answers_as(fixture.socket, {0, users_gid}, "{\"id\":1,\"method\":\"pause\"}\n", 1);
  REQUIRE(lines.size() == 1);
  CHECK(decode(lines[0]).ok());
  CHECK(fixture.target.calls() == std::vector<Method>{Method::Pause});

  // And without the group, the message says who may.
  const std::vector<std::string> refused =
      answers_as(fixture.socket, {0}, "{\"id\":1,\"method\":\"pause\"}\n", 1);
  REQUIRE(refused.size() == 1);
  CHECK_THAT(decode(refused[0]).message, Catch::Contains("members of group users"));
}

TEST_CASE("a malformed line gets an error and the connection stays usable", "[control]") {
  ControlFixture fixture;
  fixture.start();
  LineClient client(fixture.socket);
  const protocol::Response garbage = client.call("this is not json");
  CHECK(garbage.error == ErrorCode::BadRequest);
  const protocol::Response unknown = client.call(R"({"id":5,"method":"frobnicate"})");
  CHECK(unknown.error == ErrorCode::UnknownMethod);
  CHECK(unknown.id == 5);
  CHECK_THAT(unknown.message, Catch::Contains("\"frobnicate\"") && Catch::Contains("status"));
  client.send("\n  \n");  // blank lines are skipped, not answered
  const protocol::Response status = client.call(R"({"id":6,"method":"status"})");
  CHECK(status.ok());
  CHECK(status.id == 6);
}

TEST_CASE("target errors reach the client with their code", "[control]") {
  ControlFixture fixture;
  fixture.start();
  LineClient client(fixture.socket);
  const protocol::Response answer = client.call(R"({"id":9,"method":"sync","mirror":"no/such"})");
  CHECK(answer.error == ErrorCode::UnknownMirror);
  CHECK(answer.id == 9);
}

TEST_CASE("an oversized line is refused and closed while other clients are served", "[control]") {
  ControlFixture fixture;
  fixture.start();
  LineClient bystander(fixture.socket);
  LineClient flooder(fixture.socket);

  flooder.send(std::string(protocol::kMaxRequestBytes + 4096, 'x'));  // no newline ever comes
  const std::optional<std::string> refusal = flooder.read_line();
  REQUIRE(refusal);
  CHECK(decode(*refusal).error == ErrorCode::TooLarge);
  CHECK(flooder.closed_by_server());

  CHECK(bystander.call(R"({"id":1,"method":"status"})").ok());
  CHECK(LineClient(fixture.socket).call(R"({"id":1,"method":"status"})").ok());
}

TEST_CASE("a line of exactly the limit is still accepted", "[control]") {
  ControlFixture fixture;
  fixture.start();
  LineClient client(fixture.socket);
  std::string line = R"({"id":1,"method":"status","padding":")";
  line += std::string(protocol::kMaxRequestBytes - line.size() - 2, 'p') + "\"}";
  REQUIRE(line.size() == protocol::kMaxRequestBytes);
  CHECK(client.call(line).ok());
}

TEST_CASE("a client that never reads its answers is dropped, others are not held up", "[control]") {
  ControlFixture fixture;
  protocol::DaemonStatus big = sample_status();
  big.mirrors[0].transfers.resize(2000, big.mirrors[0].transfers[0]);  // ~300 KB per answer
  fixture.target.set_status(big);
  fixture.start();

  LineClient stuck(fixture.socket);
  std::string requests;
  for (int i = 0; i < 100; ++i)
    requests += "{\"id\":" + std::to_string(i) + ",\"method\":\"status\"}\n";
  stuck.send(requests);

  LineClient other(fixture.socket);
  CHECK(other.call(R"({"id":1,"method":"status"})").ok());

  // The server gave up on it: what had reached the socket buffers, then the end.
  CHECK(stuck.closed_by_server());
  protocol::Response one_answer;
  one_answer.status = big;
  const std::size_t answer_size = protocol::encode(one_answer).size();
  CHECK(stuck.bytes_discarded() < 100 * answer_size);
}

TEST_CASE("many clients are served at once", "[control]") {
  ControlFixture fixture;
  fixture.start();
  constexpr int kClients = 32;
  std::vector<std::unique_ptr<LineClient>> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i)
    clients.push_back(std::make_unique<LineClient>(fixture.socket));
  for (std::size_t i = 0; i < clients.size(); ++i)
    clients[i]->send("{\"id\":" + std::to_string(i) + ",\"method\":\"status\"}\n");
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const std::optional<std::string> line = clients[i]->read_line();
    REQUIRE(line);
    CHECK(decode(*line).id == static_cast<std::int64_t>(i));
  }
}

TEST_CASE("the socket is 0660, and close() ends connections and removes it", "[control]") {
  ControlFixture fixture;
  fixture.start();
  struct stat info {};
  REQUIRE(::lstat(fixture.socket.c_str(), &info) == 0);
  CHECK(S_ISSOCK(info.st_mode));
  CHECK((info.st_mode & 07777) == 0660);
  CHECK(info.st_gid == ::getegid());

  LineClient client(fixture.socket);
  CHECK(client.call(R"({"id":1,"method":"status"})").ok());
  fixture.stop();
  CHECK(client.closed_by_server());
  CHECK_FALSE(std::filesystem::exists(fixture.socket));
}

TEST_CASE("a stale socket file is replaced", "[control]") {
  ControlFixture fixture;
  { const UniqueFd crashed = bound_socket(fixture.socket, false); }  // closed, file left behind
  REQUIRE(std::filesystem::is_socket(fixture.socket));
  fixture.start();
  CHECK(LineClient(fixture.socket).call(R"({"id":1,"method":"status"})").ok());
}

TEST_CASE("a socket someone answers on is refused and left alone", "[control]") {
  ControlFixture fixture;
  const UniqueFd live = bound_socket(fixture.socket, true);
  const Result<void> opened = fixture.server.open();
  REQUIRE_FALSE(opened.ok());
  CHECK_THAT(opened.error().message,
             Catch::Contains(fixture.socket.string()) && Catch::Contains("already answers"));
  CHECK(std::filesystem::is_socket(fixture.socket));
}

TEST_CASE("start-up errors name the path or setting at fault", "[control]") {
  Sandbox sandbox;
  boost::asio::io_context io;
  RecordingTarget target;
  Log log(LogLevel::Error);

  SECTION("a file that is not a socket is never removed") {
    const auto path = sandbox / "ctl.sock";
    write_file(path, "precious");
    ControlServer server(io, target, log, {path, std::nullopt});
    const Result<void> opened = server.open();
    REQUIRE_FALSE(opened.ok());
    CHECK_THAT(opened.error().message,
               Catch::Contains(path.string()) && Catch::Contains("not a socket"));
    CHECK(read_file(path) == "precious");
  }
  SECTION("a missing directory") {
    const auto path = sandbox / "missing" / "ctl.sock";
    ControlServer server(io, target, log, {path, std::nullopt});
    const Result<void> opened = server.open();
    REQUIRE_FALSE(opened.ok());
    CHECK_THAT(opened.error().message, Catch::Contains((sandbox / "missing").string() + " for " +
                                                       path.string() + " does not exist"));
  }
  SECTION("a path too long for a socket address") {
    const auto path = sandbox / std::string(120, 'a');
    ControlServer server(io, target, log, {path, std::nullopt});
    const Result<void> opened = server.open();
    REQUIRE_FALSE(opened.ok());
    CHECK_THAT(opened.error().message, Catch::Contains(path.string()));
  }
  SECTION("an unknown control_group") {
    ControlServer server(io, target, log, {sandbox / "ctl.sock", "no-such-group-here"});
    const Result<void> opened = server.open();
    REQUIRE_FALSE(opened.ok());
    CHECK_THAT(opened.error().message,
               Catch::Contains("control_group") && Catch::Contains("no-such-group-here"));
    CHECK_FALSE(std::filesystem::exists(sandbox / "ctl.sock"));
  }
}

TEST_CASE("the dispatcher checks permission before the target sees a request", "[control]") {
  RecordingTarget target;
  Result<AccessPolicy> policy = AccessPolicy::make(std::nullopt, 998);
  REQUIRE(policy.ok());
  ControlDispatcher dispatcher(target, std::move(policy).value());
  protocol::Request request;
  request.id = 12;
  request.method = Method::Verify;

  const PeerCredentials stranger{100, 1000, 1000, {1000, 24}};
  const protocol::Response refused = dispatcher.answer(request, stranger);
  CHECK(refused.error == ErrorCode::NotPermitted);
  CHECK_THAT(refused.message, Catch::Contains("verify") && Catch::Contains("uid 998") &&
                                  Catch::Contains("uid 1000"));
  CHECK(target.calls().empty());

  const PeerCredentials daemon_user{101, 998, 998, {}};
  const protocol::Response allowed = dispatcher.answer(request, daemon_user);
  CHECK(allowed.ok());
  CHECK(allowed.id == 12);
  CHECK(target.calls() == std::vector<Method>{Method::Verify});
}

TEST_CASE("a client that sends nothing, or stops mid-line, is closed after the idle time-out",
          "[control][idle]") {
  ControlServerSettings settings;
  settings.idle_timeout = std::chrono::milliseconds(500);
  ControlFixture fixture(settings);
  fixture.start();
  const auto started = std::chrono::steady_clock::now();
  const UniqueFd silent = raw_client(fixture.socket);
  const UniqueFd half_line = raw_client(fixture.socket);
  ::send(half_line.get(), R"({"id":1,"method":"sta)", 21, MSG_NOSIGNAL);
  const UniqueFd trickle = raw_client(fixture.socket);
  LineClient busy(fixture.socket);
  // Bytes that never end a line do not count as activity; complete requests do.
  for (int i = 0; i < 15; ++i) {
    ::send(trickle.get(), "x", 1, MSG_NOSIGNAL);
    CHECK(busy.call(R"({"id":1,"method":"status"})").ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(closed_within_10s(silent));
  CHECK(closed_within_10s(half_line));
  CHECK(closed_within_10s(trickle));
  // Without a time-out each of those reads would have waited its full 10 s.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(8));
  CHECK(busy.call(R"({"id":2,"method":"status"})").ok());
  // And a client that went quiet after a request is closed too: it holds a slot all the same.
  CHECK(busy.closed_by_server());
}

TEST_CASE("connections are capped per uid, and others' clients cannot lock out root",
          "[control][limits]") {
  if (!can_switch_users()) return;
  ControlServerSettings settings;
  settings.max_per_uid = 3;
  settings.max_connections = 5;
  settings.max_privileged = 4;
  ControlFixture fixture(settings);
  open_sandbox_to_others(fixture);
  fixture.start();

  // One user: three connections, the fourth refused with a line saying why.
  ConnectionsHeldAs nobody(fixture.socket, kNobody, 4);
  REQUIRE(nobody.lines.size() == 4);
  for (int i = 0; i < 3; ++i) CHECK(decode(nobody.lines[i]).ok());
  const protocol::Response refused = decode(nobody.lines[3]);
  CHECK(refused.error == ErrorCode::Failed);
  CHECK_THAT(refused.message, Catch::Contains("uid 65534 has 3 connections"));

  // A second user fills what is left for everyone but root and the daemon's user.
  ConnectionsHeldAs other(fixture.socket, kNobody - 1, 3);
  REQUIRE(other.lines.size() == 3);
  CHECK(decode(other.lines[0]).ok());
  CHECK(decode(other.lines[1]).ok());
  CHECK_THAT(decode(other.lines[2]).message,
             Catch::Contains("5 connections of other users are open already"));

  // Root still gets in, up to its own pool.
  std::vector<std::unique_ptr<LineClient>> root;
  for (int i = 0; i < 4; ++i) {
    root.push_back(std::make_unique<LineClient>(fixture.socket));
    CHECK(root.back()->call(R"({"id":1,"method":"status"})").ok());
  }
  LineClient fifth(fixture.socket);
  const std::optional<std::string> answer = fifth.read_line();
  REQUIRE(answer);
  CHECK_THAT(decode(*answer).message, Catch::Contains("4 connections of root"));

  // Closed connections give their slots back (once the server has read their end: a few tries).
  // Newest first: a child inherits the ones before it, with the write end of their hold pipes.
  other.release();
  nobody.release();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    const std::vector<std::string> again =
        answers_as(fixture.socket, {0}, "{\"id\":1,\"method\":\"status\"}\n", 1);
    REQUIRE(again.size() == 1);
    served = decode(again[0]).ok();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(served);
}

// docs/operations.md, "Controlling the daemon": control_group decides what a client may do,
// the socket's mode (0660, the daemon's group) whether it may connect at all.
TEST_CASE("a control_group member outside the daemon's group cannot reach the socket",
          "[control]") {
  if (!can_switch_users()) return;
  const group* users = ::getgrnam("users");
  REQUIRE(users != nullptr);
  const gid_t users_gid = users->gr_gid;
  ControlFixture fixture("users");
  open_sandbox_to_others(fixture);
  fixture.start();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, fixture.socket.c_str(), sizeof address.sun_path - 1);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // In control_group (users), not in the socket's group (root, the daemon's here).
    if (::setgroups(1, &users_gid) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0)
      ::_exit(10);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const int status = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    ::_exit(status == 0 ? 0 : errno == EACCES ? 13 : 14);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 13);  // EACCES: the method is never even read
  // With the daemon's group as well, the same user may change things ("members of
  // control_group may change things" above).
  const std::vector<std::string> lines =
      answers_as(fixture.socket, {0, users_gid}, "{\"id\":1,\"method\":\"pause\"}\n", 1);
  REQUIRE(lines.size() == 1);
  CHECK(decode(lines[0]).ok());
}
