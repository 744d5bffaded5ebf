// SPDX-License-Identifier: MIT
// Self-test of the fixture server: the faults it injects, its connections (keep-alive, raw
// requests, the request log, shutdown) and TLS.
#include "tests/support/http_server.hpp"
#include "tests/support/self_test/http_server_clients.hpp"

#include "tests/support/sandbox.hpp"
#include "tests/support/test_ca.hpp"

#include <curl/curl.h>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

namespace fs = std::filesystem;
using namespace pnsync::test;
using namespace pnsync::test::selftest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- faults
// ------------------------------------------------------------------------------------------

TEST_CASE_METHOD(Demo, "fault: ResetAfter", "[http_server][fault]") {
  HttpServer server(options());
  server.set_fault(kData, {.kind = Fault::Kind::ResetAfter, .bytes = 1000, .times = 1});
  const Reply r = fetch({.url = server.url("data.bin")});
  CHECK(r.code == CURLE_RECV_ERROR);  // "Connection reset by peer", not a clean EOF
  CHECK(r.status == 200);
  CHECK(r.body == data.substr(0, 1000));
  CHECK(fetch({.url = server.url("data.bin")}).body == data);  // times = 1: then normal
  // Each request's record says what its body cost; together, the server's total.
  const auto log = server.requests();
  REQUIRE(log.size() == 2);
  CHECK(log[0].body_bytes == 1000);
  CHECK(log[1].body_bytes == data.size());
  CHECK(server.body_bytes_sent() == 1000 + data.size());
}

TEST_CASE_METHOD(Demo,
                 "fault: ResetAfter delivers all n bytes, even more than the socket buffers hold",
                 "[http_server][fault]") {
  write_random_file(root() / "big.bin", 16 * 1024 * 1024, 5);
  HttpServer server(options());
  server.set_fault("/files/demo/1.0/big.bin",
                   {.kind = Fault::Kind::ResetAfter, .bytes = 12'000'000});
  const Reply r = fetch({.url = server.url("big.bin")});
  CHECK(r.code == CURLE_RECV_ERROR);  // "Connection reset by peer", not a clean EOF
  CHECK(r.body.size() == 12'000'000);
}

TEST_CASE_METHOD(Demo, "fault: Stall holds one connection without blocking others",
                 "[http_server][fault]") {
  HttpServer server(options());
  server.set_fault(kData, {.kind = Fault::Kind::Stall, .bytes = 1000});
  auto stalled = std::async(std::launch::async, [&] {
    return fetch({.url = server.url("data.bin"), .low_speed_time = 1});
  });
  REQUIRE(eventually([&] { return server.count_requests(kData) == 1; }));
  const Reply other = fetch({.url = server.url("README.txt"), .timeout_ms = 2000});
  CHECK(other.code == CURLE_OK);
  CHECK(other.body == "hello, world\n");

  const Reply r = stalled.get();
  CHECK(r.code == CURLE_OPERATION_TIMEDOUT);
  CHECK(r.body == data.substr(0, 1000));
  CHECK(r.seconds < 4);
}

TEST_CASE_METHOD(Demo, "fault: Slow paces the body", "[http_server][fault]") {
  write_file(root() / "small.bin", data.substr(0, 5000));
  HttpServer server(options());
  server.set_fault("/files/demo/1.0/small.bin", {.kind = Fault::Kind::Slow, .bytes = 10000});
  const auto t0 = Clock::now();
  const Reply r = fetch({.url = server.url("small.bin")});
  CHECK(r.code == CURLE_OK);
  CHECK(r.body == data.substr(0, 5000));
  CHECK(seconds_since(t0) >= 0.35);  // 5000 bytes at 10000 B/s: five 100 ms steps
  CHECK(seconds_since(t0) < 3);
}

TEST_CASE_METHOD(Demo, "a body write that fails because the client is gone is not counted as sent",
                 "[http_server][fault]") {
  HttpServer server(options());
  // One byte a second: the client takes the first and resets the connection; the server's write
  // of the second, a second later, fails, and it takes back the byte it had counted.
  server.set_fault(kData, {.kind = Fault::Kind::Slow, .bytes = 1});
  const int fd =
      send_raw(server.port(), "GET /files/demo/1.0/data.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string in;
  char buf[4096];
  const auto body_started = [&] {
    const auto end = in.find("\r\n\r\n");
    return end != std::string::npos && in.size() > end + 4;
  };
  for (ssize_t n; !body_started() && (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    in.append(buf, static_cast<std::size_t>(n));
  REQUIRE(body_started());
  CHECK(in.size() == in.find("\r\n\r\n") + 5);  // the head and one byte
  const linger reset{1, 0};                     // close with RST
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
  // Nothing outside shows when the server has tried the second byte: wait past its due time.
  std::this_thread::sleep_for(1500ms);
  CHECK(server.body_bytes_sent() == 1);
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].body_bytes == 1);
}

TEST_CASE_METHOD(Demo, "fault: Status with Retry-After, times counting down",
                 "[http_server][fault]") {
  HttpServer server(options());
  server.set_fault(kData,
                   {.kind = Fault::Kind::Status, .status = 503, .retry_after = "7", .times = 2});
  Client client;
  for (int i = 0; i < 2; ++i) {
    const Reply r = client.fetch({.url = server.url("data.bin")});
    CHECK(r.status == 503);
    CHECK(r.header("Retry-After") == "7");
    CHECK(r.body.empty());
  }
  const Reply ok = client.fetch({.url = server.url("data.bin")});
  CHECK(ok.status == 200);
  CHECK(ok.body == data);
  CHECK(ok.connects == 0);  // an error status keeps the connection
  CHECK(server.count_requests(kData) == 3);
}

TEST_CASE_METHOD(Demo, "fault: IgnoreRange, IgnoreConditional, WrongBytes, Always416, Truncate",
                 "[http_server][fault]") {
  HttpServer server(options());
  const auto url = server.url("data.bin");

  SECTION("IgnoreRange answers 200 with everything") {
    server.set_fault(kData, {.kind = Fault::Kind::IgnoreRange, .times = 1});
    const Reply r = fetch({.url = url, .range = "1000-"});
    CHECK(r.status == 200);
    CHECK_FALSE(r.has_header("Content-Range"));
    CHECK(r.body == data);
    CHECK(fetch({.url = url, .range = "1000-"}).status == 206);
  }
  SECTION("IgnoreConditional answers 200 with everything where a 304 was due") {
    server.set_fault(kData, {.kind = Fault::Kind::IgnoreConditional, .times = 1});
    const std::string since = "If-Modified-Since: Fri, 05 Jan 2024 13:45:00 GMT";
    const Reply r = fetch({.url = url, .headers = {since}});
    CHECK(r.status == 200);
    CHECK(r.body == data);
    CHECK(fetch({.url = url, .headers = {since}}).status == 304);  // used up
  }
  SECTION("WrongBytes keeps the length, flips the content") {
    server.set_fault(kData, {.kind = Fault::Kind::WrongBytes});
    const Reply r = fetch({.url = url, .range = "10-19"});
    CHECK(r.status == 206);
    CHECK(r.body == flipped(data.substr(10, 10)));
    CHECK(fetch({.url = url}).body == flipped(data));
  }
  SECTION("Always416 refuses ranges only") {
    server.set_fault(kData, {.kind = Fault::Kind::Always416});
    const Reply r = fetch({.url = url, .range = "0-"});
    CHECK(r.status == 416);
    CHECK(r.header("Content-Range") == "bytes */100000");
    CHECK(fetch({.url = url}).status == 200);
  }
  SECTION("WrongContentRange serves a later slice than asked, and says so") {
    server.set_fault(kData, {.kind = Fault::Kind::WrongContentRange, .bytes = 4096, .times = 1});
    server.clear_requests();
    const Reply r = fetch({.url = url, .range = "1000-"});
    CHECK(r.status == 206);
    CHECK(r.header("Content-Range") == "bytes 5096-99999/100000");
    CHECK(r.body == data.substr(5096));
    CHECK(server.body_bytes_sent() == 100000 - 5096);
    CHECK(fetch({.url = url, .range = "1000-"}).header("Content-Range") ==
          "bytes 1000-99999/100000");  // used up
  }
  SECTION("Truncate promises the length and closes early") {
    server.set_fault(kData, {.kind = Fault::Kind::Truncate, .bytes = 10});
    const Reply r = fetch({.url = url});
    CHECK(r.code == CURLE_PARTIAL_FILE);
    CHECK(r.header("Content-Length") == "100000");
    CHECK(r.body == data.substr(0, 10));
  }
  SECTION("a listing can be faulted too; its chunk framing stays valid") {
    server.set_fault("/files/demo/1.0/", {.kind = Fault::Kind::Truncate, .bytes = 50});
    const Reply r = fetch({.url = server.url()});
    CHECK(r.code == CURLE_PARTIAL_FILE);
    CHECK(r.body == "<html>\r\n<head><title>Index of /files/demo/1.0/</ti");
  }
  SECTION("HEAD is not counted against a body fault") {
    server.set_fault(kData, {.kind = Fault::Kind::ResetAfter, .bytes = 0, .times = 1});
    CHECK(fetch({.url = url, .head = true}).code == CURLE_OK);
    CHECK(fetch({.url = url}).code != CURLE_OK);
    CHECK(fetch({.url = url}).code == CURLE_OK);
  }
  SECTION("clear_faults") {
    server.set_fault(kData, {.kind = Fault::Kind::Status, .status = 500});
    CHECK(fetch({.url = url}).status == 500);
    server.clear_faults();
    CHECK(fetch({.url = url}).status == 200);
  }
}

// ---- connections
// -------------------------------------------------------------------------------------

TEST_CASE_METHOD(Demo, "keep-alive: several requests on one connection",
                 "[http_server][connection]") {
  HttpServer server(options());
  Client client;
  const Reply first = client.fetch({.url = server.url("README.txt")});
  const Reply listing = client.fetch({.url = server.url()});
  const Reply second = client.fetch({.url = server.url("data.bin"), .range = "0-9"});
  CHECK(first.connects == 1);
  CHECK(listing.connects == 0);  // a chunked body keeps the connection too
  CHECK(second.connects == 0);
  CHECK(second.body == data.substr(0, 10));

  SECTION("Connection: close is honoured") {
    const Reply closing =
        client.fetch({.url = server.url("README.txt"), .headers = {"Connection: close"}});
    CHECK(closing.header("Connection") == "close");
    CHECK(client.fetch({.url = server.url("README.txt")}).connects == 1);
  }

  const auto log = server.requests();
  REQUIRE(log.size() >= 3);
  CHECK(log[0].connection == log[2].connection);
}

TEST_CASE_METHOD(Demo, "raw requests: pipelining, HTTP/1.0, malformed heads",
                 "[http_server][connection]") {
  HttpServer server(options());

  SECTION("two pipelined requests in one write") {
    const std::string out =
        raw_exchange(server.port(),
                     "GET /files/demo/1.0/README.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /files/demo/1.0/sub/inner.txt HTTP/1.1\r\nHost: x\r\n"
                     "Connection: close\r\n\r\n");
    const auto first = out.find("hello, world\n");
    CHECK(first != std::string::npos);
    CHECK(out.find("inner\n", first) != std::string::npos);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
  }
  SECTION("HTTP/1.0 gets a listing without chunking, then close") {
    const std::string out = raw_exchange(server.port(), "GET /files/demo/1.0/ HTTP/1.0\r\n\r\n");
    CHECK_THAT(out, Catch::StartsWith("HTTP/1.1 200 OK\r\n"));
    CHECK(out.find("Transfer-Encoding") == std::string::npos);
    CHECK(out.find("Connection: close\r\n") != std::string::npos);
    CHECK_THAT(out, Catch::EndsWith("</pre><hr></body>\r\n</html>\r\n"));
  }
  SECTION("garbage, other methods, huge heads, traversal") {
    CHECK_THAT(raw_exchange(server.port(), "BLAH\r\n\r\n"), Catch::StartsWith("HTTP/1.1 400 "));
    CHECK_THAT(raw_exchange(server.port(), "GET / HTTP/2.0\r\n\r\n"),
               Catch::StartsWith("HTTP/1.1 400 "));
    CHECK_THAT(raw_exchange(server.port(), "GET / HTTP/1.1\r\n folded\r\n\r\n"),
               Catch::StartsWith("HTTP/1.1 400 "));
    CHECK_THAT(
        raw_exchange(server.port(), "POST /files/demo/1.0/ HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"),
        Catch::StartsWith("HTTP/1.1 405 "));
    CHECK_THAT(
        raw_exchange(server.port(), "GET / HTTP/1.1\r\nX: " + std::string(40000, 'a') + "\r\n\r\n"),
        Catch::StartsWith("HTTP/1.1 431 "));
    CHECK_THAT(raw_exchange(
                   server.port(),
                   "GET /files/demo/1.0/../../../etc/passwd HTTP/1.1\r\nConnection: close\r\n\r\n"),
               Catch::StartsWith("HTTP/1.1 404 "));
    CHECK_THAT(
        raw_exchange(server.port(),
                     "GET /files/demo/1.0/%2E%2E/%2e%2e/x HTTP/1.1\r\nConnection: close\r\n\r\n"),
        Catch::StartsWith("HTTP/1.1 404 "));
  }
}

TEST_CASE_METHOD(Demo, "the request log", "[http_server]") {
  ServerOptions o = options();
  o.username = "alice";
  o.password = "s3cret";
  HttpServer server(o);
  fetch({.url = server.url("a%20b.txt?x=1"),
         .userpwd = "alice:s3cret",
         .range = "2-",
         .headers = {"Cookie: a=b", "If-Range: \"659807dc-7\""}});
  const auto log = server.requests();
  REQUIRE(log.size() == 1);
  const RequestRecord& r = log[0];
  CHECK(r.method == "GET");
  CHECK(r.target == "/files/demo/1.0/a%20b.txt?x=1");
  CHECK(r.path == "/files/demo/1.0/a b.txt");
  CHECK(r.range == "bytes=2-");
  CHECK(r.user_agent == kWget);
  CHECK(r.authorization == "Basic YWxpY2U6czNjcmV0");
  CHECK(r.cookie == "a=b");
  CHECK(r.status == 206);
  CHECK(r.connection == 1);
  CHECK(r.header("if-range") == "\"659807dc-7\"");
  CHECK(r.header("X-Absent") == std::nullopt);
  CHECK(r.body_bytes == 5);  // "aced\n"
  CHECK(server.count_requests("/files/demo/1.0/a b.txt") == 1);
  CHECK(server.count_requests("/files/demo/1.0/a%20b.txt") == 0);
  server.clear_requests();
  CHECK(server.requests().empty());
  // Requests logged after a clear still get their bytes.
  fetch({.url = server.url("a%20b.txt"), .userpwd = "alice:s3cret"});
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].body_bytes == 7);
  CHECK(server.body_bytes_sent() == 7);
}

TEST_CASE_METHOD(Demo, "the destructor returns promptly with a stalled client connected",
                 "[http_server][connection]") {
  auto server = std::make_unique<HttpServer>(options());
  server->set_fault(kData, {.kind = Fault::Kind::Stall, .bytes = 10});
  auto stalled = std::async(std::launch::async, [url = server->url("data.bin")] {
    return fetch({.url = url, .timeout_ms = 30000});
  });
  REQUIRE(eventually([&] { return server->count_requests(kData) == 1; }));
  std::this_thread::sleep_for(50ms);  // let the ten bytes go out

  const auto t0 = Clock::now();
  server.reset();
  CHECK(seconds_since(t0) < 1.0);

  const Reply r = stalled.get();  // the client sees the connection end, well before its timeout
  CHECK(r.code == CURLE_PARTIAL_FILE);
  CHECK(r.body == data.substr(0, 10));
  CHECK(r.seconds < 5);
}

// ---- TLS
// -----------------------------------------------------------------------------------------------

TEST_CASE_METHOD(Demo, "HTTPS with the test CA", "[http_server][tls]") {
  const TestCa ca = make_test_ca(path() / "pki");

  SECTION("a certificate from the CA is accepted") {
    ServerOptions o = options();
    o.tls_cert_file = ca.server_cert;
    o.tls_key_file = ca.server_key;
    HttpServer server(o);
    CHECK(server.base_url() == "https://127.0.0.1:" + std::to_string(server.port()));
    Client client;
    const Reply r = client.fetch({.url = server.url("README.txt"), .cainfo = ca.ca_cert.string()});
    CHECK(r.code == CURLE_OK);
    CHECK(r.body == "hello, world\n");
    const Reply again =
        client.fetch({.url = server.url("data.bin"), .range = "5-", .cainfo = ca.ca_cert.string()});
    CHECK(again.status == 206);
    CHECK(again.body == data.substr(5));
    CHECK(again.connects == 0);
    const Reply listing = client.fetch({.url = server.url("sub"), .cainfo = ca.ca_cert.string()});
    CHECK(listing.header("Location") == server.url("sub/"));
  }
  SECTION("a certificate that does not chain to the CA is refused") {
    ServerOptions o = options();
    o.tls_cert_file = ca.rogue_cert;
    o.tls_key_file = ca.rogue_key;
    HttpServer server(o);
    const Reply r = fetch({.url = server.url("README.txt"), .cainfo = ca.ca_cert.string()});
    CHECK(r.code == CURLE_PEER_FAILED_VERIFICATION);
    CHECK(server.requests().empty());
  }
  SECTION("TLS faults behave as in clear") {
    ServerOptions o = options();
    o.tls_cert_file = ca.server_cert;
    o.tls_key_file = ca.server_key;
    HttpServer server(o);
    server.set_fault(kData, {.kind = Fault::Kind::Stall, .bytes = 100});
    const Reply r =
        fetch({.url = server.url("data.bin"), .low_speed_time = 1, .cainfo = ca.ca_cert.string()});
    CHECK(r.code == CURLE_OPERATION_TIMEDOUT);
    CHECK(r.body == data.substr(0, 100));
  }
}
