// SPDX-License-Identifier: MIT
#include "daemon/control/control_connection.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>

#include "daemon/control/control_dispatcher.hpp"
#include "daemon/net/asio_cancel.hpp"
#include "protocol/codec.hpp"

namespace pnsync {

ControlConnection::ControlConnection(Socket socket, PeerCredentials peer,
                                     ControlDispatcher& dispatcher, Log& log,
                                     std::chrono::milliseconds idle_timeout)
    : socket_(std::move(socket)),
      peer_(std::move(peer)),
      dispatcher_(dispatcher),
      log_(log),
      idle_timeout_(idle_timeout),
      idle_(socket_.get_executor()) {}

void ControlConnection::start() {
  log_.debug("control: " + describe() + " connected");
  active_at_ = std::chrono::steady_clock::now();
  wait_idle(idle_timeout_);
  read_more();
}

void ControlConnection::wait_idle(std::chrono::steady_clock::duration wait) {
  idle_.expires_after(wait);
  idle_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
    self->on_idle_wait(error);
  });
}

void ControlConnection::on_idle_wait(const boost::system::error_code& error) {
  if (error || closed_) return;
  // One timer, re-armed for what is left rather than reset on every line: a busy client costs
  // no timer operations.
  const auto quiet = std::chrono::steady_clock::now() - active_at_;
  if (quiet < idle_timeout_) return wait_idle(idle_timeout_ - quiet);
  const auto ms = idle_timeout_.count();
  log_.info("control: " + describe() + " sent no complete request and took no answer for " +
            (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms") +
            "; closing its connection");
  close();
}

void ControlConnection::close() {
  if (closed_) return;
  closed_ = true;
  cancel_quietly(idle_);
  boost::system::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);  // pending operations complete with operation_aborted
}

void ControlConnection::read_more() {
  socket_.async_read_some(
      boost::asio::buffer(chunk_),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t length) {
        self->on_read(error, length);
      });
}

void ControlConnection::on_read(const boost::system::error_code& error, std::size_t length) {
  if (closed_) return;
  if (error) {
    // End of input: the client may have shut down only its sending side (socat, `nc -N`) and
    // still wait for the answers, so they are written before the connection closes.
    if (error != boost::asio::error::eof)
      log_.debug("control: " + describe() + ": read failed: " + error.message());
    reading_done_ = true;
    if (output_.empty()) close();
    return;
  }
  input_.append(chunk_.data(), length);
  std::size_t start = 0;
  for (std::size_t end; (end = input_.find('\n', start)) != std::string::npos; start = end + 1) {
    if (end - start > protocol::kMaxRequestBytes) return refuse_oversized();
    answer_line(std::string_view(input_).substr(start, end - start));
    if (closed_) return;  // the answer overflowed the queue
  }
  input_.erase(0, start);
  // Refused before the newline arrives: the point is not to buffer without bound.
  if (input_.size() > protocol::kMaxRequestBytes) return refuse_oversized();
  read_more();
}

void ControlConnection::answer_line(std::string_view line) {
  active_at_ = std::chrono::steady_clock::now();
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank: typed by hand
  const protocol::Decoded<protocol::Request> request = protocol::decode_request(line);
  protocol::Response response;
  if (request) {
    response = dispatcher_.answer(request.value(), peer_);
  } else {
    // A malformed line costs the client one error; the connection stays usable.
    response.id = request.error().id;
    response.error = request.error().code;
    response.message = request.error().message;
  }
  send(protocol::encode(response));
}

void ControlConnection::refuse_oversized() {
  log_.warning("control: " + describe() + " sent a request line over " +
               std::to_string(protocol::kMaxRequestBytes) + " bytes; closing its connection");
  protocol::Response response;
  response.error = protocol::ErrorCode::TooLarge;
  response.message = "request line longer than " + std::to_string(protocol::kMaxRequestBytes) +
                     " bytes; closing the connection";
  input_.clear();
  input_.shrink_to_fit();
  reading_done_ = true;  // the rest of the stream cannot be framed reliably any more
  send(protocol::encode(response));
}

void ControlConnection::send(std::string line) {
  if (queued_bytes_ + line.size() > kMaxQueuedBytes) {
    log_.warning("control: " + describe() + " does not read its answers (" +
                 std::to_string(queued_bytes_) + " bytes waiting); dropping the connection");
    close();
    return;
  }
  queued_bytes_ += line.size();
  output_.push_back(std::move(line));
  if (output_.size() == 1) write_next();
}

void ControlConnection::write_next() {
  boost::asio::async_write(
      socket_, boost::asio::buffer(output_.front()),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t length) {
        self->on_written(error, length);
      });
}

void ControlConnection::on_written(const boost::system::error_code& error, std::size_t length) {
  if (closed_) return;
  if (error) {
    log_.debug("control: " + describe() + ": write failed: " + error.message());
    close();
    return;
  }
  active_at_ = std::chrono::steady_clock::now();
  queued_bytes_ -= length;
  output_.pop_front();
  if (!output_.empty())
    write_next();
  else if (reading_done_)
    close();
}

std::string ControlConnection::describe() const {
  return "uid " + std::to_string(peer_.uid) + " (pid " + std::to_string(peer_.pid) + ")";
}

}  // namespace pnsync
