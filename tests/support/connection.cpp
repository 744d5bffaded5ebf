// SPDX-License-Identifier: MIT
#include "tests/support/connection.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <type_traits>

namespace pnsync::test {
namespace {

using Kind = Fault::Kind;
using boost::system::error_code;

constexpr std::size_t kPieceBytes = 64 * 1024;  // large files stream through this much at a time
constexpr int kFlushTries = 5000;               // x 1 ms: how long an RST waits for the send queue

std::string chunk(const std::string& payload) {
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
  return size + payload + "\r\n";
}

}  // namespace

template <class Stream>
Connection<Stream>::Connection(Stream stream, Router& router, std::uint64_t id)
    : stream_(std::move(stream)), router_(router), id_(id), timer_(stream_.get_executor()) {}

template <class Stream>
void Connection<Stream>::start() {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](const error_code& ec) {
                              if (ec) {
                                self->close();
                              } else {
                                self->read_head();
                              }
                            });
  } else {
    read_head();
  }
}

template <class Stream>
void Connection<Stream>::read_head() {
  asio::async_read_until(stream_, in_, "\r\n\r\n",
                         [self = this->shared_from_this()](const error_code& ec, std::size_t size) {
                           self->on_head(ec, size);
                         });
}

template <class Stream>
void Connection<Stream>::on_head(const error_code& ec, std::size_t size) {
  if (ec == asio::error::not_found) {  // no end of head within kMaxHeadBytes
    respond(router_.reject(431, id_));
    return;
  }
  if (ec) {  // usually the client closing an idle keep-alive connection
    close();
    return;
  }
  const auto data = in_.data();
  const auto begin = asio::buffers_begin(data);
  const std::string head(begin, begin + static_cast<std::ptrdiff_t>(size));
  in_.consume(size);  // anything after it is the next pipelined request
  const auto req = http::parse_request_head(head);
  respond(req ? router_.route(*req, id_) : router_.reject(400, id_));
}

template <class Stream>
void Connection<Stream>::respond(Response res) {
  res_ = std::move(res);
  sent_ = 0;
  out_ = res_.head();
  write_out([](Connection& self) {
    if (self.res_.send_body) {
      self.pump_body();
    } else {
      self.finish_response();
    }
  });
}

// Sends the body one piece per write, so that a fault can stop, stall or pace it between pieces.
template <class Stream>
void Connection<Stream>::pump_body() {
  const Fault& fault = res_.fault;
  const std::uint64_t total = res_.body_size();
  const bool cut =
      fault.kind == Kind::ResetAfter || fault.kind == Kind::Stall || fault.kind == Kind::Truncate;
  const std::uint64_t limit =
      cut ? std::min(total, static_cast<std::uint64_t>(std::max<std::int64_t>(0, fault.bytes)))
          : total;

  if (sent_ == limit) {
    switch (fault.kind) {
      case Kind::ResetAfter:
        reset_when_sent(kFlushTries);
        return;
      case Kind::Stall:
        drain();
        return;  // silence, the socket stays open until the client leaves
      case Kind::Truncate:
        close_gracefully();
        return;
      default:
        break;
    }
    if (res_.framing == Framing::Chunked) {
      out_ = "0\r\n\r\n";
      write_out([](Connection& self) { self.finish_response(); });
    } else {
      finish_response();
    }
    return;
  }

  std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(limit - sent_, kPieceBytes));
  std::chrono::nanoseconds pause{0};
  if (fault.kind == Kind::Slow) {
    // Pace at fault.bytes per second: a tenth of a second's worth (at least a byte) per write.
    const auto rate = static_cast<std::uint64_t>(std::max<std::int64_t>(1, fault.bytes));
    size = std::min<std::size_t>(size, std::max<std::uint64_t>(1, rate / 10));
    pause = std::chrono::nanoseconds(std::chrono::seconds(1)) * size / rate;
  }

  std::string payload;
  if (!next_payload(size, payload)) {  // the file shrank or vanished under us
    reset();
    return;
  }
  if (fault.kind == Kind::WrongBytes) {
    for (char& c : payload) c = static_cast<char>(~c);
  }
  out_ = res_.framing == Framing::Chunked ? chunk(payload) : std::move(payload);
  // Counted when handed to the socket, not when the write completes: a client can hold every
  // byte before this side's completion handler runs, and a test reading the count then must
  // not see a short total. A write that fails takes its bytes back (write_out): the client was
  // gone (killed, reset) and they never left this process.
  router_.count_body_bytes(size, res_.request_serial);
  write_out(
      [size, pause](Connection& self) {
        self.sent_ += size;
        if (pause.count() == 0) {
          self.pump_body();
          return;
        }
        self.timer_.expires_after(pause);
        self.timer_.async_wait([self = self.shared_from_this()](const error_code& ec) {
          if (!ec) self->pump_body();
        });
      },
      size);
}

template <class Stream>
bool Connection<Stream>::next_payload(std::size_t size, std::string& payload) {
  if (const auto* text = std::get_if<std::string>(&res_.body)) {
    payload = text->substr(static_cast<std::size_t>(sent_), size);
    return true;
  }
  const auto& slice = std::get<FileSlice>(res_.body);
  if (!file_.is_open()) {
    file_.open(slice.path, std::ios::binary);
    file_.seekg(static_cast<std::streamoff>(slice.offset));
  }
  payload.resize(size);
  file_.read(payload.data(), static_cast<std::streamsize>(size));
  return file_.gcount() == static_cast<std::streamsize>(size);
}

template <class Stream>
void Connection<Stream>::finish_response() {
  file_ = std::ifstream();
  if (res_.close) {
    close_gracefully();
  } else {
    read_head();  // keep-alive: the next request may already be buffered
  }
}

template <class Stream>
template <class Then>
void Connection<Stream>::write_out(Then then, std::uint64_t counted) {
  asio::async_write(
      stream_, asio::buffer(out_),
      [self = this->shared_from_this(), then, counted](const error_code& ec, std::size_t wrote) {
        if (ec) {
          if (counted > 0) {
            // In out_ the body bytes follow the chunk header, if any.
            const std::size_t header =
                self->res_.framing == Framing::Chunked ? self->out_.size() - counted - 2 : 0;
            const std::uint64_t handed =
                std::min<std::uint64_t>(counted, wrote > header ? wrote - header : 0);
            self->router_.uncount_body_bytes(counted - handed, self->res_.request_serial);
          }
          self->close();
        } else {
          then(*self);
        }
      });
}

// SO_LINGER 0 throws away whatever is still queued in the kernel, which for a large `bytes` is
// megabytes the client was promised. So poll the send queue (SIOCOUTQ: bytes not yet acked; on
// loopback that is bytes the client has not taken) every millisecond until it is empty.
template <class Stream>
void Connection<Stream>::reset_when_sent(int tries_left) {
  int queued = 0;
  const int fd = stream_.lowest_layer().native_handle();
  if (tries_left > 0 && ::ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0) {
    timer_.expires_after(std::chrono::milliseconds(1));
    timer_.async_wait([self = this->shared_from_this(), tries_left](const error_code& ec) {
      if (!ec) self->reset_when_sent(tries_left - 1);
    });
    return;
  }
  reset();
}

template <class Stream>
void Connection<Stream>::reset() {
  error_code ignored;
  stream_.lowest_layer().set_option(asio::socket_base::linger(true, 0), ignored);
  close();
}

template <class Stream>
void Connection<Stream>::close_gracefully() {
  error_code ignored;
  stream_.lowest_layer().shutdown(asio::socket_base::shutdown_send, ignored);
  drain();  // closing now, with unread input, would turn our FIN into an RST
}

template <class Stream>
void Connection<Stream>::drain() {
  stream_.async_read_some(asio::buffer(sink_),
                          [self = this->shared_from_this()](const error_code& ec, std::size_t) {
                            if (ec) {
                              self->close();
                            } else {
                              self->drain();
                            }
                          });
}

template <class Stream>
void Connection<Stream>::close() {
  error_code ignored;
  timer_.cancel();
  stream_.lowest_layer().close(ignored);
}

template class Connection<PlainStream>;
template class Connection<TlsStream>;

}  // namespace pnsync::test
