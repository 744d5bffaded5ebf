// SPDX-License-Identifier: MIT
// Self-test of the fixture server, seen from real clients: files, byte ranges, listings,
// redirects and authentication.
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

// ---- files
// ---------------------------------------------------------------------------------------

TEST_CASE_METHOD(Demo, "GET and HEAD of a file", "[http_server]") {
  HttpServer server(options());
  CHECK(server.base_url() == "http://127.0.0.1:" + std::to_string(server.port()));

  const Reply r = fetch({.url = server.url("README.txt")});
  REQUIRE(r.code == CURLE_OK);
  CHECK(r.status == 200);
  CHECK(r.body == "hello, world\n");
  CHECK(r.header("Content-Length") == "13");
  CHECK(r.header("Accept-Ranges") == "bytes");
  CHECK(r.header("Last-Modified") == "Fri, 05 Jan 2024 13:45:00 GMT");
  CHECK(r.header("ETag") == "\"659807dc-d\"");
  CHECK(r.header("Content-Type") == "text/plain");

  const Reply h = fetch({.url = server.url("data.bin"), .head = true});
  REQUIRE(h.code == CURLE_OK);
  CHECK(h.status == 200);
  CHECK(h.body.empty());
  CHECK(h.header("Content-Length") == "100000");
  CHECK(h.header("ETag") == "\"659807dc-186a0\"");

  CHECK(fetch({.url = server.url("a%20b.txt")}).body == "spaced\n");
  CHECK(fetch({.url = server.url("sub/inner.txt")}).body == "inner\n");
  CHECK(fetch({.url = server.url(".hidden")}).body == "x");  // hidden from listings only
}

TEST_CASE_METHOD(Demo, "byte ranges", "[http_server]") {
  HttpServer server(options());
  const auto url = server.url("data.bin");

  SECTION("N- and N-M give 206 with Content-Range") {
    Reply r = fetch({.url = url, .range = "1000-"});
    CHECK(r.status == 206);
    CHECK(r.header("Content-Range") == "bytes 1000-99999/100000");
    CHECK(r.body == data.substr(1000));

    r = fetch({.url = url, .range = "10-19"});
    CHECK(r.status == 206);
    CHECK(r.header("Content-Range") == "bytes 10-19/100000");
    CHECK(r.header("Content-Length") == "10");
    CHECK(r.body == data.substr(10, 10));

    r = fetch({.url = url, .range = "99990-200000"});  // the end is clamped
    CHECK(r.header("Content-Range") == "bytes 99990-99999/100000");
    CHECK(r.body == data.substr(99990));

    r = fetch({.url = url, .range = "-5"});
    CHECK(r.header("Content-Range") == "bytes 99995-99999/100000");
    CHECK(r.body == data.substr(99995));
  }
  SECTION("a start at or past the end is 416") {
    for (const char* range : {"100000-", "200000-300000"}) {
      const Reply r = fetch({.url = url, .range = range});
      CHECK(r.status == 416);
      CHECK(r.header("Content-Range") == "bytes */100000");
    }
  }
  SECTION("If-Range with another validator gets the whole file") {
    const Reply r = fetch({.url = url, .range = "10-", .headers = {"If-Range: \"0-0\""}});
    CHECK(r.status == 200);
    CHECK(r.body == data);
    CHECK(fetch({.url = url, .range = "10-", .headers = {"If-Range: \"659807dc-186a0\""}}).status ==
          206);
  }
  SECTION("conditional GET") {
    CHECK(fetch({.url = url, .headers = {"If-None-Match: \"659807dc-186a0\""}}).status == 304);
    CHECK(fetch({.url = url, .headers = {"If-Modified-Since: Fri, 05 Jan 2024 13:45:00 GMT"}})
              .status == 304);
    CHECK(fetch({.url = url, .headers = {"If-Modified-Since: Fri, 05 Jan 2024 13:45:01 GMT"}})
              .status == 200);
  }
}

TEST_CASE_METHOD(Demo, "a large file streams intact", "[http_server]") {
  write_random_file(root() / "big.bin", 8 * 1024 * 1024 + 3, 7);
  HttpServer server(options());
  const Reply r = fetch({.url = server.url("big.bin")});
  REQUIRE(r.code == CURLE_OK);
  CHECK(r.body.size() == 8 * 1024 * 1024 + 3);
  CHECK(sha256_hex(r.body) == sha256_file_hex(root() / "big.bin"));
}

TEST_CASE_METHOD(Demo, "paths that are not below the root are 404", "[http_server]") {
  HttpServer server(options());
  const auto base = server.base_url();
  CHECK(fetch({.url = server.url("missing.txt")}).status == 404);
  CHECK(fetch({.url = base + "/files/other/1.0/README.txt"}).status == 404);
  CHECK(fetch({.url = server.url("README.txt/")}).status == 404);
  CHECK(fetch({.url = server.url("../1.0/README.txt"), .path_as_is = true}).status == 404);
  CHECK(fetch({.url = server.url("sub/%2e%2e/README.txt")}).status == 404);
  CHECK(fetch({.url = server.url("sub//inner.txt")}).status == 404);
  CHECK(fetch({.url = server.url("bad%zzescape")}).status == 400);
}

// ---- listings and redirects
// -----------------------------------------------------------------------

TEST_CASE_METHOD(Demo, "nginx listing over the wire", "[http_server][listing]") {
  HttpServer server(options());
  const Reply r = fetch({.url = server.url()});
  REQUIRE(r.code == CURLE_OK);
  CHECK(r.status == 200);
  CHECK(r.header("Transfer-Encoding") == "chunked");
  CHECK_FALSE(r.has_header("Content-Length"));
  CHECK_FALSE(r.has_header("ETag"));
  CHECK_FALSE(r.has_header("Last-Modified"));
  CHECK(r.header("Content-Type") == "text/html");
  CHECK(r.body ==
        "<html>\r\n<head><title>Index of /files/demo/1.0/</title></head>\r\n<body>\r\n"
        "<h1>Index of /files/demo/1.0/</h1><hr><pre><a href=\"../\">../</a>\r\n"
        "<a href=\"sub/\">sub/</a>                                               05-Jan-2024 13:45 "
        "                  -\r\n"
        "<a href=\"README.txt\">README.txt</a>                                         05-Jan-2024 "
        "13:45                  13\r\n"
        "<a href=\"a%20b.txt\">a b.txt</a>                                            05-Jan-2024 "
        "13:45                   7\r\n"
        "<a href=\"data.bin\">data.bin</a>                                           05-Jan-2024 "
        "13:45              100000\r\n"
        "</pre><hr></body>\r\n</html>\r\n");

  // Only files carry a Last-Modified: a listing is never 304.
  const std::string since = "If-Modified-Since: Fri, 05 Jan 2024 13:45:00 GMT";
  CHECK(fetch({.url = server.url(), .headers = {since}}).status == 200);

  const Reply sub = fetch({.url = server.url("sub/")});
  CHECK_THAT(sub.body, Catch::Contains("<title>Index of /files/demo/1.0/sub/</title>"));
  CHECK_THAT(sub.body, Catch::Contains("<a href=\"inner.txt\">inner.txt</a>"));
}

TEST_CASE_METHOD(Demo, "Apache and development-server listings over the wire",
                 "[http_server][listing]") {
  SECTION("Apache") {
    HttpServer server({.root = root(), .listing_style = ListingStyle::Apache});
    const Reply r = fetch({.url = server.url()});
    CHECK(r.status == 200);
    CHECK(r.header("Transfer-Encoding") == "chunked");
    CHECK(r.header("Content-Type") == "text/html;charset=UTF-8");
    CHECK_THAT(r.body,
               Catch::StartsWith("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n"));
    CHECK_THAT(
        r.body,
        Catch::Contains(
            "<td><a href=\"sub/\">sub/</a></td><td align=\"right\">2024-01-05 13:45  </td>"));
    CHECK_THAT(r.body, Catch::Contains("<td><a href=\"a%20b.txt\">a b.txt</a></td>"));
    CHECK_THAT(r.body, Catch::Contains("<td align=\"right\"> 98K</td>"));
    CHECK_THAT(r.body,
               Catch::Contains("Server at 127.0.0.1 Port " + std::to_string(server.port())));
    CHECK_THAT(r.body, !Catch::Contains("hidden"));
  }
  SECTION("development server") {
    HttpServer server({.root = root(), .listing_style = ListingStyle::DevServer});
    const Reply r = fetch({.url = server.url()});
    CHECK(r.status == 200);
    CHECK(r.header("Content-Length") == std::to_string(r.body.size()));
    CHECK(r.body ==
          "<!DOCTYPE html><html><body><ul><li><a href=\"sub\">sub</a></li>"
          "<li><a href=\"README.txt\">README.txt</a></li><li><a href=\"a%20b.txt\">a b.txt</a></li>"
          "<li><a href=\"data.bin\">data.bin</a></li></ul></body></html>");
  }
}

TEST_CASE_METHOD(Demo, "a directory without its slash is redirected", "[http_server][listing]") {
  SECTION("nginx: 301 to the absolute URL") {
    HttpServer server(options());
    Reply r = fetch({.url = server.url("sub")});
    CHECK(r.status == 301);
    CHECK(r.header("Location") == server.url("sub/"));
    r = fetch({.url = server.base_url() + "/files/demo/1.0"});
    CHECK(r.status == 301);
    CHECK(r.header("Location") == server.url());
  }
  SECTION("development server: 302 to the path") {
    HttpServer server({.root = root(), .listing_style = ListingStyle::DevServer});
    const Reply r = fetch({.url = server.url("sub")});
    CHECK(r.status == 302);
    CHECK(r.header("Location") == "/files/demo/1.0/sub/");
  }
}

// ---- authentication
// --------------------------------------------------------------------------------

TEST_CASE_METHOD(Demo, "physionet's Basic-auth matrix", "[http_server][auth]") {
  ServerOptions o = options();
  o.username = "alice";
  o.password = "s3cret";
  HttpServer server(o);

  const auto [ua, userpwd, status] = GENERATE(table<std::string, std::string, long>({
      {kWget, "", 401},
      {kWget, "alice:wrong", 401},
      {kWget, "bob:s3cret", 401},
      {kWget, "alice:s3cret", 200},
      {"libwfdb/10.7.0", "alice:s3cret", 200},
      {"curl/7.88.1", "alice:s3cret", 403},  // Basic is honoured only for Wget/ and libwfdb/
      {"curl/7.88.1", "", 403},
      {"Mozilla/5.0 (Wget/1.21)", "alice:s3cret", 403},  // the match is anchored at the start
  }));
  CAPTURE(ua, userpwd);
  const Reply r = fetch({.url = server.url("README.txt"), .user_agent = ua, .userpwd = userpwd});
  CHECK(r.status == status);
  if (status == 401) {
    CHECK(r.header("WWW-Authenticate") == "Basic realm=\"PhysioNet\", charset=\"UTF-8\"");
    CHECK(r.header("Set-Cookie") == "testcookie=1");
    CHECK(r.body.empty());
  }
  if (status == 200) CHECK(r.body == "hello, world\n");
}

TEST_CASE_METHOD(Demo, "a login sent with a cookie opens a session", "[http_server][auth]") {
  ServerOptions o = options();
  o.username = "alice";
  o.password = "s3cret";
  HttpServer server(o);
  const Reply login = fetch({.url = server.url("README.txt"),
                             .userpwd = "alice:s3cret",
                             .headers = {"Cookie: testcookie=1"}});
  CHECK(login.status == 200);
  const std::string set_cookie = login.header("Set-Cookie");
  REQUIRE_THAT(set_cookie, Catch::StartsWith("sessionid="));
  const std::string session = set_cookie.substr(0, set_cookie.find(';'));

  CHECK(fetch({.url = server.url("README.txt"),
               .user_agent = "curl/7.88.1",
               .headers = {"Cookie: " + session}})
            .status == 200);
  CHECK(fetch({.url = server.url("README.txt"), .headers = {"Cookie: sessionid=forged"}}).status ==
        401);
  // Without a cookie in the request no session is offered.
  CHECK_FALSE(
      fetch({.url = server.url("README.txt"), .userpwd = "alice:s3cret"}).has_header("Set-Cookie"));
}
