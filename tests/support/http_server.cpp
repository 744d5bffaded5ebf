// SPDX-License-Identifier: MIT
#include "tests/support/http_server.hpp"

#include "tests/support/connection.hpp"
#include "tests/support/router.hpp"

#include <atomic>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <thread>

namespace pnsync::test {

using tcp = asio::ip::tcp;

std::optional<std::string> RequestRecord::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (http::iequals(key, name)) return value;
  }
  return std::nullopt;
}

// Member order matters for destruction: the io_context goes before the router and the TLS
// context (its pending handlers own the connections, which use both) and after the acceptor.
struct HttpServer::Impl {
  explicit Impl(ServerOptions options) : router(std::move(options)) {}

  void start();
  void accept();
  void stop();
  bool take_hang() {
    int left = hang_next.load();
    while (left > 0 && !hang_next.compare_exchange_weak(left, left - 1)) {
    }
    return left > 0;
  }

  Router router;
  std::optional<asio::ssl::context> tls;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::vector<std::weak_ptr<ConnectionBase>> connections;  // touched on the io thread only
  std::atomic<int> hang_next{0};                           // set from any thread
  std::vector<tcp::socket> hung;                           // io thread only
  std::uint64_t next_connection = 1;
  std::uint16_t port = 0;
  std::thread thread;
};

void HttpServer::Impl::start() {
  const ServerOptions& options = router.options();
  if (options.tls_cert_file.has_value() != options.tls_key_file.has_value()) {
    throw std::invalid_argument("HttpServer: set both tls_cert_file and tls_key_file, or neither");
  }
  if (options.tls_cert_file) {
    tls.emplace(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    tls->use_certificate_chain_file(options.tls_cert_file->string());
    tls->use_private_key_file(options.tls_key_file->string(), asio::ssl::context::pem);
  }

  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen();
  port = acceptor.local_endpoint().port();
  router.set_origin(tls ? "https" : "http", port);

  accept();
  thread = std::thread([this] {
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {  // a bug in a handler: say so, keep serving
        std::fprintf(stderr, "pnsync test HttpServer: handler threw: %s\n", e.what());
      }
    }
  });
}

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // stopping
    if (!ec && take_hang()) {
      hung.push_back(std::move(socket));
    } else if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::erase_if(connections, [](const auto& c) { return c.expired(); });
      std::shared_ptr<ConnectionBase> conn;
      if (tls) {
        conn = std::make_shared<Connection<TlsStream>>(TlsStream(std::move(socket), *tls), router,
                                                       next_connection++);
      } else {
        conn =
            std::make_shared<Connection<PlainStream>>(std::move(socket), router, next_connection++);
      }
      connections.push_back(conn);
      conn->start();
    }
    accept();
  });
}

void HttpServer::Impl::stop() {
  io.stop();
  if (thread.joinable()) thread.join();
  // The io thread is gone: close everything from here. Stalled and idle clients see EOF; the
  // handlers still queued are destroyed with the io_context, and the connections with them.
  boost::system::error_code ignored;
  acceptor.close(ignored);
  hung.clear();
  for (const auto& weak : connections) {
    if (auto conn = weak.lock()) conn->abort();
  }
}

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->start();
}

HttpServer::~HttpServer() {
  impl_->stop();
}

std::uint16_t HttpServer::port() const {
  return impl_->port;
}

std::string HttpServer::base_url() const {
  return std::string(impl_->tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(impl_->port);
}

std::string HttpServer::url(std::string_view relative) const {
  return base_url() + impl_->router.options().url_prefix + std::string(relative);
}

void HttpServer::set_fault(const std::string& url_path, Fault fault) {
  impl_->router.set_fault(url_path, std::move(fault));
}

void HttpServer::hang_connections(int count) {
  impl_->hang_next.store(count);
}

void HttpServer::clear_faults() {
  impl_->router.clear_faults();
}

std::vector<RequestRecord> HttpServer::requests() const {
  return impl_->router.requests();
}

std::size_t HttpServer::count_requests(const std::string& url_path) const {
  return impl_->router.count_requests(url_path);
}

std::uint64_t HttpServer::body_bytes_sent() const {
  return impl_->router.body_bytes_sent();
}

void HttpServer::clear_requests() {
  impl_->router.clear_requests();
}

}  // namespace pnsync::test
