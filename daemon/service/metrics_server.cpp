// SPDX-License-Identifier: MIT
#include "daemon/service/metrics_server.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <list>
#include <string_view>

#include "daemon/net/asio_cancel.hpp"

namespace pnsync {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string response(std::string_view status, std::string_view content_type,
                     std::string_view extra_headers, const std::string& body, bool head_only) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size());
  out += "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

std::string plain(std::string_view status, std::string_view extra_headers = {}) {
  return response(status, "text/plain; charset=utf-8", extra_headers, std::string(status) + "\n",
                  false);
}

}  // namespace

std::string metrics_response(std::string_view request_head, const MetricsServer::Body& body) {
  // request-line = method SP request-target SP HTTP-version (RFC 9112 section 3). Headers are
  // not needed to answer, so they are not parsed.
  const std::string_view line = request_head.substr(0, request_head.find("\r\n"));
  const std::size_t first_space = line.find(' ');
  const std::size_t second_space =
      first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos ||
      line.find(' ', second_space + 1) != std::string_view::npos)
    return plain("400 Bad Request");
  const std::string_view method = line.substr(0, first_space);
  std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view version = line.substr(second_space + 1);
  if (method.empty() || !version.starts_with("HTTP/1.")) return plain("400 Bad Request");

  // A scrape config may add ?params; they select nothing here.
  target = target.substr(0, target.find('?'));
  if (target != "/metrics") return plain("404 Not Found");
  // HEAD is answered like GET without the body: RFC 9110 asks every server to support both.
  const bool head = method == "HEAD";
  if (method != "GET" && !head) return plain("405 Method Not Allowed", "Allow: GET, HEAD\r\n");
  try {
    return response("200 OK", kContentType, {}, body(), head);
  } catch (const std::exception&) {
    // The renderer is not expected to throw (bad_alloc at most); a scrape must not end the loop.
    return plain("500 Internal Server Error");
  }
}

class Connection;

struct MetricsServer::State : std::enable_shared_from_this<MetricsServer::State> {
  State(asio::io_context& io, Body body, Log& log, MetricsServerOptions options)
      : io(io), acceptor(io), retry_timer(io), body(std::move(body)), log(log), options(options) {}

  void accept();
  void close_all();

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;  // after an accept error such as EMFILE, retry later
  Body body;
  Log& log;
  MetricsServerOptions options;
  std::list<std::weak_ptr<Connection>> connections;  // to close them with the server
  std::string name;                                  // "metrics_listen HOST:PORT", for messages
};

// One accepted socket: read the request head, answer, close. Owned by its pending handlers.
class Connection : public std::enable_shared_from_this<Connection> {
public:
  Connection(tcp::socket socket, std::shared_ptr<MetricsServer::State> server)
      : socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        request_(server->options.max_request_bytes),
        server_(std::move(server)) {}

  void start() {
    deadline_.expires_after(server_->options.connection_timeout);
    deadline_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;  // cancelled: the response went out first
      if (auto self = weak.lock()) self->close();
    });
    asio::async_read_until(socket_, request_, "\r\n\r\n",
                           [self = shared_from_this()](error_code ec, std::size_t head_size) {
                             self->on_request(ec, head_size);
                           });
  }

  void close() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);  // pending operations complete with operation_aborted
    cancel_quietly(deadline_);
  }

private:
  void on_request(error_code ec, std::size_t head_size) {
    if (ec == asio::error::not_found) {  // the streambuf reached max_request_bytes
      respond(plain("431 Request Header Fields Too Large"));
      return;
    }
    if (ec) {  // the client went away, or the deadline closed the socket
      close();
      return;
    }
    const std::string_view head(asio::buffer_cast<const char*>(request_.data()), head_size);
    respond(metrics_response(head, server_->body));
  }

  void respond(std::string text) {
    response_ = std::move(text);
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](error_code, std::size_t) {
                        // One response per connection, so the client never waits for more.
                        self->close();
                      });
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  asio::streambuf request_;
  std::string response_;
  std::shared_ptr<MetricsServer::State> server_;
};

void MetricsServer::State::accept() {
  acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // the server was destroyed
    if (ec) {
      // EMFILE and the like: accepting again at once would spin. Try again in a second.
      self->log.warning(self->name + ": accept failed: " + ec.message());
      self->retry_timer.expires_after(std::chrono::seconds(1));
      self->retry_timer.async_wait([self](error_code wait_ec) {
        if (!wait_ec) self->accept();
      });
      return;
    }
    self->connections.remove_if([](const auto& weak) { return weak.expired(); });
    if (self->connections.size() >= self->options.max_connections) {
      error_code ignored;
      socket.close(ignored);  // over the limit: refused, never queued
    } else {
      auto connection = std::make_shared<Connection>(std::move(socket), self);
      self->connections.push_back(connection);
      connection->start();
    }
    self->accept();
  });
}

void MetricsServer::State::close_all() {
  error_code ignored;
  acceptor.close(ignored);
  cancel_quietly(retry_timer);
  for (const auto& weak : connections)
    if (auto connection = weak.lock()) connection->close();
  connections.clear();
}

Result<MetricsServer> MetricsServer::start(asio::io_context& io,
                                           const config::detail::ListenAddress& address, Body body,
                                           Log& log, MetricsServerOptions options) {
  auto state = std::make_shared<State>(io, std::move(body), log, options);
  const bool ipv6_literal = address.host.find(':') != std::string::npos;
  state->name = "metrics_listen " + (ipv6_literal ? "[" + address.host + "]" : address.host) + ":" +
                std::to_string(address.port);
  auto fail = [&](std::string_view what, const error_code& ec) {
    return Error{ErrorKind::LocalStorage,
                 state->name + ": " + std::string(what) + ": " + ec.message()};
  };

  error_code ec;
  tcp::endpoint endpoint;
  const asio::ip::address literal = asio::ip::make_address(address.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(literal, address.port);
  } else {
    // A name such as localhost: resolved once at start (before the loop serves anything), so a
    // slow resolver never stalls a running daemon.
    tcp::resolver resolver(io);
    const auto results =
        resolver.resolve(address.host, std::to_string(address.port),
                         tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) return fail("cannot resolve the host", ec);
    endpoint = results.begin()->endpoint();
  }

  tcp::acceptor& acceptor = state->acceptor;
  if (acceptor.open(endpoint.protocol(), ec)) return fail("cannot open a socket", ec);
  // A restarted daemon must not wait for the previous one's connections to leave TIME_WAIT.
  if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec))
    return fail("cannot set SO_REUSEADDR", ec);
  if (acceptor.bind(endpoint, ec)) return fail("cannot listen", ec);
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec))
    return fail("cannot listen", ec);
  state->accept();
  return MetricsServer(std::move(state));
}

MetricsServer& MetricsServer::operator=(MetricsServer&& other) noexcept {
  if (this != &other) {
    if (state_) state_->close_all();
    state_ = std::move(other.state_);
  }
  return *this;
}

MetricsServer::~MetricsServer() {
  if (state_) state_->close_all();
}

tcp::endpoint MetricsServer::local_endpoint() const {
  error_code ignored;
  return state_->acceptor.local_endpoint(ignored);
}

}  // namespace pnsync
