// SPDX-License-Identifier: MIT
// One client of the control socket: reads request lines, answers each in order, and never lets
// the client hold the event loop. Reads and writes are asynchronous; what the client has not
// read yet waits in a bounded queue, and a client that lets it overflow is dropped.
//
// Owned by shared_ptr because pending Asio handlers must keep it alive after close(); the server
// keeps only weak_ptrs, to close what is still open at shutdown.
#pragma once

#include <array>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "daemon/control/control_access.hpp"

namespace pnsync {

class ControlDispatcher;

class ControlConnection : public std::enable_shared_from_this<ControlConnection> {
public:
  using Socket = boost::asio::local::stream_protocol::socket;
  // Answers a client may leave unread before it is dropped: a few hundred status answers of
  // a large mirror, far more than a well-behaved pipelining client ever has outstanding.
  static constexpr std::size_t kMaxQueuedBytes = 8 * 1024 * 1024;

  // `dispatcher` and `log` are used only until close(), so they need to outlive the
  // connection's open life, not its last pending handler.
  // `idle_timeout`: the connection is closed once, for this long, the client has neither
  // completed a request line nor taken any of its answers (ControlServerSettings).
  ControlConnection(Socket socket, PeerCredentials peer, ControlDispatcher& dispatcher, Log& log,
                    std::chrono::milliseconds idle_timeout);
  void start();
  void close();  // idempotent; pending handlers then return without touching anything
  bool is_open() const { return !closed_; }
  uid_t peer_uid() const { return peer_.uid; }

private:
  void read_more();
  void on_read(const boost::system::error_code& error, std::size_t length);
  void answer_line(std::string_view line);
  void refuse_oversized();
  void send(std::string line);
  void write_next();
  void on_written(const boost::system::error_code& error, std::size_t length);
  void wait_idle(std::chrono::steady_clock::duration wait);
  void on_idle_wait(const boost::system::error_code& error);
  std::string describe() const;  // "uid 1000 (pid 4242)" for log lines

  Socket socket_;
  PeerCredentials peer_;
  ControlDispatcher& dispatcher_;
  Log& log_;
  std::array<char, 4096> chunk_{};
  std::string input_;               // bytes read that do not yet end a line
  std::deque<std::string> output_;  // answers not yet written; front() is being written
  std::size_t queued_bytes_ = 0;
  std::chrono::milliseconds idle_timeout_;
  boost::asio::steady_timer idle_;
  // The last complete request line, or the last answer bytes the client took. Not any byte
  // read: a client trickling one byte a minute into an endless line is idle all the same.
  std::chrono::steady_clock::time_point active_at_;
  bool reading_done_ = false;  // end of input, or an oversized line: answer what is queued, close
  bool closed_ = false;
};

}  // namespace pnsync
