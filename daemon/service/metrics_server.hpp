// SPDX-License-Identifier: MIT
// The smallest HTTP/1.1 server Prometheus can scrape: GET (or HEAD) /metrics answers 200 with the
// body the daemon renders, anything else 404 or 405, and every connection is closed after one
// response. It runs on the daemon's io_context and never blocks it: reads, writes and deadlines are
// asynchronous, a request is capped in size and time, and connections beyond a small number are
// refused, so a slow or hostile client costs a socket, not the loop.
//
// The body callback runs on the loop thread, so it may read the engine's state without locks.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/log.hpp"
#include "common/result.hpp"
#include "config/values.hpp"

namespace pnsync {

struct MetricsServerOptions {
  // Request line plus headers; a scrape sends about 200 bytes. Larger requests get 431.
  std::size_t max_request_bytes = 8 * 1024;
  // From accept to the last byte of the response; a client still sending (or not reading) by then
  // is disconnected, which is all a slowloris client gets.
  std::chrono::milliseconds connection_timeout{10000};
  // Connections open at once; one more is closed as soon as it is accepted. Prometheus opens one
  // per scrape, so this is room for a few scrapers and curl.
  std::size_t max_connections = 8;
};

class MetricsServer {
public:
  using Body = std::function<std::string()>;

  // Binds `address` (metrics_listen, parsed by config::detail::parse_listen_address; a host name is
  // resolved once, here, and its first address used) and starts accepting on `io`. Port 0 picks a
  // free port (tests): see local_endpoint(). Fails with a message naming the address, e.g.
  // "metrics_listen 127.0.0.1:9464: cannot listen: Address already in use".
  static Result<MetricsServer> start(boost::asio::io_context& io,
                                     const config::detail::ListenAddress& address, Body body,
                                     Log& log, MetricsServerOptions options = {});

  MetricsServer(MetricsServer&&) noexcept = default;
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  MetricsServer& operator=(MetricsServer&& other) noexcept;  // closes the server it replaces
  // Stops accepting and closes every open connection; their pending handlers then end harmlessly.
  ~MetricsServer();

  boost::asio::ip::tcp::endpoint local_endpoint() const;

  struct State;  // shared with connections, so handlers that outlive the server stay safe

private:
  explicit MetricsServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// The response to one request head (request line and headers, without the final blank line), as
// the server would send it; a pure function, tested from a table. `body` is called only for a
// GET of /metrics.
std::string metrics_response(std::string_view request_head, const MetricsServer::Body& body);

}  // namespace pnsync
