// SPDX-License-Identifier: MIT
// A ControlServer on a real Unix socket in a Sandbox, its io_context on a thread of its own, a
// ControlTarget that records what reached it, and a blocking line client.
#pragma once

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "daemon/control/control_server.hpp"
#include "daemon/control/control_target.hpp"
#include "daemon/disk/local_tree.hpp"
#include "protocol/messages.hpp"
#include "tests/support/sandbox.hpp"

namespace pnsync::test {

class RecordingTarget : public ControlTarget {
public:
  protocol::Response handle(const protocol::Request& request) override;
  std::vector<protocol::Method> calls() const;
  void set_status(protocol::DaemonStatus status);

private:
  mutable std::mutex mutex_;
  std::vector<protocol::Method> calls_;
  protocol::DaemonStatus status_;
};

class ControlFixture {
public:
  explicit ControlFixture(std::optional<std::string> control_group = std::nullopt);
  // Other limits (idle time-out, connection caps); the socket is the fixture's whatever
  // `settings.socket` says.
  explicit ControlFixture(ControlServerSettings settings);
  ~ControlFixture();
  ControlFixture(const ControlFixture&) = delete;
  ControlFixture& operator=(const ControlFixture&) = delete;
  void start();  // open() (REQUIREd to succeed), then run the loop on a thread
  void stop();   // close() on the loop's thread, then join it

  Sandbox sandbox;
  std::filesystem::path socket = sandbox / "ctl.sock";
  boost::asio::io_context io;
  RecordingTarget target;
  Log log{LogLevel::Error};
  ControlServer server;

private:
  std::thread loop_;
};

class LineClient {
public:
  explicit LineClient(const std::filesystem::path& socket);  // REQUIREs the connection
  void send(std::string_view bytes);
  // The next line without its "\n"; nullopt at end of stream, on an error or after 10 s.
  std::optional<std::string> read_line();
  // Sends `line` + "\n" and decodes the answer (REQUIREd to be readable).
  protocol::Response call(std::string_view line);
  // True when the server has closed the connection: reads and discards until end of stream.
  bool closed_by_server();
  std::size_t bytes_discarded() const { return discarded_; }

private:
  UniqueFd fd_;
  std::string buffer_;
  std::size_t discarded_ = 0;
};

}  // namespace pnsync::test
