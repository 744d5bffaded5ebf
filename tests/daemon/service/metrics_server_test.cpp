// SPDX-License-Identifier: MIT
// The metrics server scraped for real on loopback: libcurl as Prometheus would be, and raw sockets
// for what curl will not do (a client that stalls, or one that never reads the close).
#include "daemon/service/metrics_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "daemon/disk/local_tree.hpp"
#include "daemon/net/curl_handles.hpp"

using pnsync::MetricsServer;
using pnsync::MetricsServerOptions;
using pnsync::UniqueFd;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

const pnsync::curl::GlobalInit kCurl;

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string head;
  std::string body;
};

enum class Verb { Get, Head, Post };

Reply scrape(const std::string& url, Verb verb = Verb::Get, const std::string& extra_header = {}) {
  Reply reply;
  pnsync::curl::Easy easy(curl_easy_init());
  REQUIRE(easy);
  const auto append = +[](char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  };
  pnsync::curl::Slist headers;
  if (!extra_header.empty()) headers.reset(curl_slist_append(nullptr, extra_header.c_str()));
  curl_easy_setopt(easy.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(easy.get(), CURLOPT_HEADERFUNCTION, append);
  curl_easy_setopt(easy.get(), CURLOPT_HEADERDATA, &reply.head);
  curl_easy_setopt(easy.get(), CURLOPT_TIMEOUT_MS, 10000L);
  if (verb == Verb::Head) curl_easy_setopt(easy.get(), CURLOPT_NOBODY, 1L);
  if (verb == Verb::Post) curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDS, "x=1");
  reply.code = curl_easy_perform(easy.get());
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

// A raw TCP client to 127.0.0.1:port.
UniqueFd connect_raw(unsigned short port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

void send_all(const UniqueFd& fd, std::string_view data) {
  REQUIRE(::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(data.size()));
}

// Everything the server sends until it closes, or nullopt when it has not closed within `limit`.
std::optional<std::string> read_until_closed(const UniqueFd& fd, std::chrono::milliseconds limit) {
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) return std::nullopt;
    pollfd pfd{fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) != 1) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n == 0) return received;
    if (n < 0) return received;  // a reset also ends the connection
    received.append(buffer, static_cast<std::size_t>(n));
  }
}

// A server on 127.0.0.1:<free port>, its loop on a thread of its own as in the daemon.
class ServerFixture {
public:
  explicit ServerFixture(MetricsServerOptions options = {}) : log_(pnsync::LogLevel::Error) {
    auto started = MetricsServer::start(
        io_, {.host = "127.0.0.1", .port = 0},
        [this] {
          ++scrapes_;
          body_thread_ = std::this_thread::get_id();
          return body_;
        },
        log_, options);
    INFO((started ? "" : started.error().message));
    REQUIRE(started);
    server_.emplace(std::move(started).value());
    port_ = server_->local_endpoint().port();
    thread_ = std::thread([this] { io_.run(); });
  }

  ServerFixture(const ServerFixture&) = delete;
  ServerFixture& operator=(const ServerFixture&) = delete;
  ~ServerFixture() {
    // Once the server is gone the loop has no work left and run() returns, so a post would
    // never run: stop only what is still running (server_ was reset before `done` was set).
    if (server_) stop_server();
    thread_.join();  // run() returns once the closed acceptor's handlers have finished
  }

  void stop_server() {
    std::promise<void> done;
    asio::post(io_, [&] {
      server_.reset();
      done.set_value();
    });
    done.get_future().wait();
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  asio::io_context io_;
  pnsync::Log log_;
  std::optional<MetricsServer> server_;
  std::thread thread_;
  unsigned short port_ = 0;
  std::string body_ = "# HELP up_total U.\n# TYPE up_total counter\nup_total 1\n";
  int scrapes_ = 0;  // written on the loop thread; read after a scrape returned
  std::thread::id body_thread_;
};

}  // namespace

TEST_CASE_METHOD(ServerFixture, "GET /metrics answers the body as Prometheus text 0.0.4",
                 "[metrics_server]") {
  const Reply reply = scrape(url("/metrics"));
  REQUIRE(reply.code == CURLE_OK);
  CHECK(reply.status == 200);
  CHECK(reply.body == body_);
  CHECK_THAT(reply.head,
             Catch::Contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  CHECK_THAT(reply.head,
             Catch::Contains("Content-Length: " + std::to_string(body_.size()) + "\r\n"));
  CHECK_THAT(reply.head, Catch::Contains("Connection: close\r\n"));
  CHECK(scrapes_ == 1);
  CHECK(body_thread_ == thread_.get_id());  // rendered on the loop, never on another thread

  // Query parameters a scrape config adds select nothing, and do not turn the answer into 404.
  CHECK(scrape(url("/metrics?collect[]=all")).status == 200);
}

TEST_CASE_METHOD(ServerFixture, "other paths are 404, other methods 405, HEAD has no body",
                 "[metrics_server]") {
  CHECK(scrape(url("/")).status == 404);
  CHECK(scrape(url("/metrics/")).status == 404);
  CHECK(scrape(url("/metricsx")).status == 404);

  const Reply post = scrape(url("/metrics"), Verb::Post);
  CHECK(post.status == 405);
  CHECK_THAT(post.head, Catch::Contains("Allow: GET, HEAD\r\n"));

  const Reply head = scrape(url("/metrics"), Verb::Head);
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK_THAT(head.head,
             Catch::Contains("Content-Length: " + std::to_string(body_.size()) + "\r\n"));
  CHECK(scrapes_ == 1);  // HEAD renders (for Content-Length); 404 and 405 never do
}

TEST_CASE_METHOD(ServerFixture, "a request head over the cap gets 431 and nothing is rendered",
                 "[metrics_server]") {
  const Reply reply = scrape(url("/metrics"), Verb::Get, "X-Padding: " + std::string(9000, 'a'));
  CHECK(reply.status == 431);
  CHECK(scrapes_ == 0);
}

TEST_CASE_METHOD(ServerFixture, "the server closes the connection after one response",
                 "[metrics_server]") {
  const UniqueFd client = connect_raw(port_);
  // Two pipelined requests: only the first is answered, then the server closes.
  send_all(client,
           "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto received = read_until_closed(client, 5s);
  REQUIRE(received);
  CHECK(received->starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(received->ends_with(body_));
  CHECK(received->find("HTTP/1.1", 1) == std::string::npos);
}

TEST_CASE("a stalled client is cut off at the deadline and never holds up a scrape",
          "[metrics_server]") {
  ServerFixture fixture(MetricsServerOptions{.connection_timeout = 300ms});
  const UniqueFd slow = connect_raw(fixture.port_);
  send_all(slow, "GET /metrics HTTP/1.1\r\nHo");  // and nothing more

  const auto before = std::chrono::steady_clock::now();
  CHECK(scrape(fixture.url("/metrics")).status == 200);  // served while `slow` hangs
  CHECK(std::chrono::steady_clock::now() - before < 250ms);

  const auto received = read_until_closed(slow, 5s);
  REQUIRE(received);         // closed by the server...
  CHECK(received->empty());  // ...without an answer
  CHECK(std::chrono::steady_clock::now() - before >= 250ms);
}

TEST_CASE("connections beyond the limit are closed at once", "[metrics_server]") {
  ServerFixture fixture(MetricsServerOptions{.connection_timeout = 10s, .max_connections = 1});
  const UniqueFd holder = connect_raw(fixture.port_);
  send_all(holder, "GET /metr");  // incomplete: holds the only slot
  // The listen queue is first in, first out: `holder` is accepted before the scrape below, so
  // no sleep is needed for it to hold the slot.
  CHECK(scrape(fixture.url("/metrics")).code != CURLE_OK);

  const UniqueFd refused = connect_raw(fixture.port_);
  send_all(refused, "GET /metrics HTTP/1.1\r\n\r\n");
  const auto received = read_until_closed(refused, 5s);
  REQUIRE(received);
  CHECK(received->empty());
  CHECK(fixture.scrapes_ == 0);
}

TEST_CASE_METHOD(ServerFixture, "destroying the server closes the connections it holds",
                 "[metrics_server]") {
  const UniqueFd client = connect_raw(port_);
  send_all(client, "GET /metrics HTTP/1.1\r\n");
  CHECK_FALSE(read_until_closed(client, 100ms));  // still open, waiting for the rest
  stop_server();
  CHECK(read_until_closed(client, 5s));
}

TEST_CASE("a port in use is an error naming metrics_listen and the address", "[metrics_server]") {
  ServerFixture first;
  asio::io_context io;
  pnsync::Log log(pnsync::LogLevel::Error);
  const auto second = MetricsServer::start(
      io, {.host = "127.0.0.1", .port = first.port_}, [] { return ""; }, log);
  REQUIRE_FALSE(second);
  CHECK(second.error().message == "metrics_listen 127.0.0.1:" + std::to_string(first.port_) +
                                      ": cannot listen: Address already in use");
}

TEST_CASE("an unresolvable host is an error naming it", "[metrics_server]") {
  asio::io_context io;
  pnsync::Log log(pnsync::LogLevel::Error);
  const auto server = MetricsServer::start(
      io, {.host = "no-such-host.invalid", .port = 9464}, [] { return ""; }, log);
  REQUIRE_FALSE(server);
  CHECK_THAT(server.error().message,
             Catch::StartsWith("metrics_listen no-such-host.invalid:9464: cannot resolve"));
}

TEST_CASE("responses to request heads, without a network", "[metrics_server]") {
  int rendered = 0;
  const MetricsServer::Body body = [&] {
    ++rendered;
    return std::string("m 1\n");
  };
  const auto [head, status_line] = GENERATE(table<std::string, std::string>({
      {"GET /metrics HTTP/1.1\r\nHost: a", "HTTP/1.1 200 OK\r\n"},
      {"GET /metrics HTTP/1.0", "HTTP/1.1 200 OK\r\n"},
      {"HEAD /metrics HTTP/1.1", "HTTP/1.1 200 OK\r\n"},
      {"GET /metrics?x=1 HTTP/1.1", "HTTP/1.1 200 OK\r\n"},
      {"GET /other HTTP/1.1", "HTTP/1.1 404 Not Found\r\n"},
      {"GET http://host/metrics HTTP/1.1", "HTTP/1.1 404 Not Found\r\n"},
      {"DELETE /metrics HTTP/1.1", "HTTP/1.1 405 Method Not Allowed\r\n"},
      {"get /metrics HTTP/1.1",
       "HTTP/1.1 405 Method Not Allowed\r\n"},           // methods are case-sensitive
      {"GET /metrics", "HTTP/1.1 400 Bad Request\r\n"},  // HTTP/0.9 style
      {"GET  /metrics HTTP/1.1", "HTTP/1.1 400 Bad Request\r\n"},
      {"GET /metrics HTTP/1.1 extra", "HTTP/1.1 400 Bad Request\r\n"},
      {"GET /metrics SPDY/3", "HTTP/1.1 400 Bad Request\r\n"},
      {"", "HTTP/1.1 400 Bad Request\r\n"},
  }));
  CAPTURE(head);
  CHECK(pnsync::metrics_response(head, body).starts_with(status_line));
}

TEST_CASE("a renderer that throws gets 500, not a dead loop", "[metrics_server]") {
  const MetricsServer::Body body = []() -> std::string { throw std::runtime_error("boom"); };
  CHECK(pnsync::metrics_response("GET /metrics HTTP/1.1", body)
            .starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
}
