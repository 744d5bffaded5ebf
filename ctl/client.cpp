// SPDX-License-Identifier: MIT
#include "ctl/client.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "protocol/codec.hpp"

namespace pnsync::ctl {
namespace {

Error unreachable(const std::filesystem::path& path, const std::string& why) {
  return Error{ErrorKind::Network, "cannot reach pnsyncd at " + path.string() + ": " + why, 0};
}

std::string connect_reason(int error) {
  switch (error) {
    case ENOENT:
      return "no such socket (is pnsyncd running? is this the socket its configuration names?)";
    case EACCES:
    case EPERM:
      return "permission denied (the socket is mode 0660: run as the daemon's user or a member "
             "of its group)";
    case ECONNREFUSED:
      return "connection refused (nothing listens there: pnsyncd stopped and left the file, or "
             "the path is not a socket)";
    case ENOTDIR:
      return "a component of the path is not a directory";
    default:
      return std::strerror(error);
  }
}

}  // namespace

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

Socket::Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Result<ControlClient> ControlClient::connect(const std::filesystem::path& path) {
  sockaddr_un address{};
  if (path.native().size() >= sizeof address.sun_path)
    return unreachable(path, "path longer than a Unix socket address allows");
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.native().size());

  Socket socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.get() < 0) return unreachable(path, std::strerror(errno));
  // Both directions time out: a daemon that stopped answering turns into exit status 6.
  const timeval timeout{static_cast<time_t>(kTimeout.count()), 0};
  ::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return unreachable(path, connect_reason(errno));

  ControlClient client(std::move(socket), path);
  protocol::Request hello;
  hello.method = protocol::Method::Hello;
  Result<protocol::Response> answer = client.call(hello);
  if (!answer) return answer.error();
  if (!answer->ok()) return Error{ErrorKind::Remote, answer->message, 0};
  return client;
}

Result<protocol::Response> ControlClient::call(protocol::Request request) {
  request.id = next_id_++;
  const std::string line = protocol::encode(request);
  for (std::size_t sent = 0; sent < line.size();) {
    // MSG_NOSIGNAL: a daemon that went away is an exit status, not a SIGPIPE.
    const ssize_t n = ::send(socket_.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return unreachable(path_, std::string("sending failed: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
  Result<std::string> answer_line = read_line();
  if (!answer_line) return answer_line.error();
  protocol::Decoded<protocol::Response> answer = protocol::decode_response(*answer_line);
  if (!answer)
    return Error{
        ErrorKind::Remote,
        "pnsyncd at " + path_.string() + " sent an unreadable answer: " + answer.error().message,
        0};
  // An error about the line itself (too large, not JSON) carries id 0: it answers no request.
  if (answer.value().id != request.id && answer.value().id != 0)
    return Error{ErrorKind::Remote,
                 "pnsyncd answered request " + std::to_string(answer.value().id) +
                     " while pnsyncctl waited for " + std::to_string(request.id),
                 0};
  return std::move(answer).value();
}

Result<std::string> ControlClient::read_line() {
  std::array<char, 64 * 1024> chunk{};
  for (;;) {
    if (const auto end = buffer_.find('\n'); end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      return line;
    }
    if (buffer_.size() > kMaxAnswerBytes)
      return Error{ErrorKind::Remote, "pnsyncd's answer is larger than pnsyncctl accepts", 0};
    const ssize_t n = ::recv(socket_.get(), chunk.data(), chunk.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return unreachable(path_, "no answer within " + std::to_string(kTimeout.count()) + " s");
    if (n < 0) return unreachable(path_, std::string("reading failed: ") + std::strerror(errno));
    if (n == 0) return unreachable(path_, "pnsyncd closed the connection before answering");
    buffer_.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace pnsync::ctl
