// SPDX-License-Identifier: MIT
// One client connection of the test server: reads request heads (keep-alive, pipelining), asks
// the Router what to answer and writes it out, playing the response's fault on the way. Lives in
// shared_ptrs held by its own pending handlers, the usual Asio idiom; the server keeps only
// weak_ptrs so that it can close every connection when it stops.
#pragma once

#include "tests/support/router.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <array>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

namespace pnsync::test {

namespace asio = boost::asio;

using PlainStream = asio::ip::tcp::socket;
using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;

class ConnectionBase {
public:
  virtual ~ConnectionBase() = default;
  virtual void start() = 0;
  // Closes the socket at once. Only on the server's thread, or after it has stopped.
  virtual void abort() = 0;
};

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
public:
  Connection(Stream stream, Router& router, std::uint64_t id);
  void start() override;
  void abort() override { close(); }

private:
  void read_head();
  void on_head(const boost::system::error_code& ec, std::size_t size);
  void respond(Response res);
  void pump_body();
  bool next_payload(std::size_t size, std::string& payload);
  void finish_response();
  // Writes out_ and calls then(*this) once it is all sent; any error closes the connection.
  // `counted`: body bytes in out_ already counted as sent; a failed write takes back those it
  // did not hand over.
  template <class Then>
  void write_out(Then then, std::uint64_t counted = 0);

  void reset_when_sent(int tries_left);  // reset() once the kernel has sent all we wrote
  void reset();                          // RST: SO_LINGER 0, then close
  void close_gracefully();  // FIN, then wait for the client's (nginx's lingering close)
  void drain();             // read and discard until the client leaves
  void close();

  Stream stream_;
  Router& router_;
  const std::uint64_t id_;
  asio::streambuf in_{http::kMaxHeadBytes};
  asio::steady_timer timer_;  // pacing for Fault::Slow, flush wait for Fault::ResetAfter
  Response res_;              // the response being written
  std::ifstream file_;        // its open file body, if any
  std::uint64_t sent_ = 0;    // payload bytes of res_ written so far
  std::string out_;           // the bytes of the write in flight
  std::array<char, 4096> sink_{};
};

extern template class Connection<PlainStream>;
extern template class Connection<TlsStream>;

}  // namespace pnsync::test
