// SPDX-License-Identifier: MIT
// pnsyncctl's end of the control socket: blocking, one request at a time, with a time-out so a
// wedged daemon cannot hang a script.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "common/result.hpp"
#include "protocol/messages.hpp"

namespace pnsync::ctl {

// A descriptor closed when it goes out of scope.
class Socket {
public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

// Errors: ErrorKind::Network when the daemon cannot be reached or the connection breaks (exit 6);
// ErrorKind::Remote when it answers something that is not a valid answer (exit 1).
class ControlClient {
public:
  static constexpr std::chrono::seconds kTimeout{30};
  // An answer longer than this is refused: a status of the largest mirrors is a few MiB.
  static constexpr std::size_t kMaxAnswerBytes = 256 * 1024 * 1024;

  // Connects and exchanges hello. The message says which socket was tried and why it failed.
  static Result<ControlClient> connect(const std::filesystem::path& path);
  // Sends one request and waits for its answer (which may be a daemon error: see ok()).
  Result<protocol::Response> call(protocol::Request request);

private:
  ControlClient(Socket socket, std::filesystem::path path)
      : socket_(std::move(socket)), path_(std::move(path)) {}
  Result<std::string> read_line();

  Socket socket_;
  std::filesystem::path path_;
  std::string buffer_;  // bytes read past the last answer
  std::int64_t next_id_ = 1;
};

}  // namespace pnsync::ctl
