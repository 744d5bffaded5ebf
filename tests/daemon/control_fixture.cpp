// SPDX-License-Identifier: MIT
#include "tests/daemon/control_fixture.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <array>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <cstring>
#include <future>

#include "protocol/codec.hpp"
#include "protocol/methods.hpp"

namespace pnsync::test {

protocol::Response RecordingTarget::handle(const protocol::Request& request) {
  std::lock_guard lock(mutex_);
  calls_.push_back(request.method);
  protocol::Response response;
  response.id = -1;  // the server must replace it with the request's id
  if (request.mirror == "no/such") {
    response.error = protocol::ErrorCode::UnknownMirror;
    response.message = "unknown mirror no/such";
    return response;
  }
  switch (request.method) {
    case protocol::Method::Status:
      response.status = status_;
      break;
    case protocol::Method::Failures:
      response.failures.emplace();
      break;
    case protocol::Method::Plan:
      response.plans.emplace();
      break;
    default:
      response.message = std::string(protocol::to_string(request.method)) + " done";
  }
  return response;
}

std::vector<protocol::Method> RecordingTarget::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

void RecordingTarget::set_status(protocol::DaemonStatus status) {
  std::lock_guard lock(mutex_);
  status_ = std::move(status);
}

ControlFixture::ControlFixture(std::optional<std::string> control_group)
    : server(io, target, log, {socket, std::move(control_group)}) {}

namespace {
ControlServerSettings at(ControlServerSettings settings, const std::filesystem::path& socket) {
  settings.socket = socket;
  return settings;
}
}  // namespace

ControlFixture::ControlFixture(ControlServerSettings settings)
    : server(io, target, log, at(std::move(settings), socket)) {}

ControlFixture::~ControlFixture() {
  stop();
}

void ControlFixture::start() {
  const Result<void> opened = server.open();
  INFO((opened ? std::string() : opened.error().message));
  REQUIRE(opened.ok());
  loop_ = std::thread([this] { io.run(); });
}

void ControlFixture::stop() {
  if (!loop_.joinable()) return;
  std::promise<void> closed;
  boost::asio::post(io, [&] {
    server.close();
    closed.set_value();
  });
  closed.get_future().wait();
  loop_.join();  // run() returns once the closed connections' handlers have finished
}

LineClient::LineClient(const std::filesystem::path& socket)
    : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  REQUIRE(fd_);
  const timeval timeout{10, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  const int status =
      ::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  INFO(socket.string() << ": " << std::strerror(errno));
  REQUIRE(status == 0);
}

void LineClient::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::optional<std::string> LineClient::read_line() {
  std::array<char, 65536> chunk{};
  for (;;) {
    if (const auto end = buffer_.find('\n'); end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      return line;
    }
    const ssize_t n = ::recv(fd_.get(), chunk.data(), chunk.size(), 0);
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

protocol::Response LineClient::call(std::string_view line) {
  send(std::string(line) + "\n");
  const std::optional<std::string> answer = read_line();
  REQUIRE(answer);
  const protocol::Decoded<protocol::Response> decoded = protocol::decode_response(*answer);
  INFO(*answer);
  REQUIRE(decoded.ok());
  return decoded.value();
}

bool LineClient::closed_by_server() {
  std::array<char, 65536> chunk{};
  discarded_ += buffer_.size();
  buffer_.clear();
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), chunk.data(), chunk.size(), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0) return false;  // time-out: still open
    discarded_ += static_cast<std::size_t>(n);
  }
}

}  // namespace pnsync::test
