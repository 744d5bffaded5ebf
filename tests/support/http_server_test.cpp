// SPDX-License-Identifier: MIT
// Self-test of the fixture server, seen from real clients: libcurl's easy interface (what pnsync
// uses) and, for what curl will not send, a raw socket.
#include "tests/support/http_server.hpp"
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
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kWget = "Wget/1.21.3 (compatible; pnsync-test)";
constexpr std::time_t kJan5 = 1704462300;  // 2024-01-05 13:45:00 UTC = 0x659807dc
const CURLcode kCurlInit = curl_global_init(CURL_GLOBAL_DEFAULT);

// ---- a small libcurl client -------------------------------------------------------------------

struct Get {
  std::string url{};
  std::string user_agent = kWget;
  std::string userpwd{};  // "" sends no credentials
  std::string range{};    // "" sends no Range
  std::vector<std::string> headers{};
  bool head = false;
  // Give up after low_speed_time seconds below low_speed_limit bytes/s. libcurl averages the
  // speed over the last ~5 s, so a stall after a burst needs a high limit to be noticed in 1 s.
  long low_speed_time = 0;
  long low_speed_limit = 100000;
  long timeout_ms = 15000;
  std::string cainfo{};
  bool path_as_is = false;  // send "/../" as written
};

struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string head;   // header block of the last response
  long connects = 0;  // connections this transfer opened (0 when it reused one)
  double seconds = 0;

  std::string header(std::string_view name) const {  // value, or "" when absent
    std::string_view rest = head;
    while (!rest.empty()) {
      const auto eol = rest.find("\r\n");
      const auto line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
      const auto colon = line.find(':');
      if (colon == name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0) {
        auto value = line.substr(colon + 1);
        while (value.starts_with(' ')) value.remove_prefix(1);
        return std::string(value);
      }
    }
    return {};
  }
  bool has_header(std::string_view name) const { return !header(name).empty(); }
};

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// One easy handle reused across fetches, so libcurl keeps its connection between them.
class Client {
public:
  Client() : easy_(curl_easy_init()) { REQUIRE(kCurlInit == CURLE_OK); }

  Reply fetch(const Get& get) {
    CURL* c = easy_.get();
    curl_easy_reset(c);  // keeps the connection cache
    Reply reply;
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    for (const auto& h : get.headers)
      headers.reset(curl_slist_append(headers.release(), h.c_str()));

    curl_easy_setopt(c, CURLOPT_URL, get.url.c_str());
    curl_easy_setopt(c, CURLOPT_USERAGENT, get.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, get.timeout_ms);
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t, size_t n, void* out) {
          static_cast<Reply*>(out)->body.append(p, n);
          return n;
        });
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(
        c, CURLOPT_HEADERFUNCTION, +[](char* p, size_t, size_t n, void* out) {
          auto* r = static_cast<Reply*>(out);
          if (std::string_view(p, n).starts_with("HTTP/"))
            r->head.clear();  // keep the last response
          r->head.append(p, n);
          return n;
        });
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply);
    if (!get.userpwd.empty()) {
      curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);  // pre-emptive, as pnsync sends it
      curl_easy_setopt(c, CURLOPT_USERPWD, get.userpwd.c_str());
    }
    if (!get.range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, get.range.c_str());
    if (get.head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (get.low_speed_time > 0) {
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, get.low_speed_limit);
      curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, get.low_speed_time);
    }
    if (!get.cainfo.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, get.cainfo.c_str());
    if (get.path_as_is) curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);

    reply.code = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &reply.connects);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &reply.seconds);
    return reply;
  }

private:
  std::unique_ptr<CURL, EasyDeleter> easy_;
};

Reply fetch(const Get& get) {
  return Client().fetch(get);
}

// ---- a raw client, for requests curl will not send -------------------------------------------

// A TCP connection to the server on loopback that has sent `request` as is (receives time out
// after 5 s).
int send_raw(std::uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  return fd;
}

// Sends `request` as is and returns everything the server sends until it closes (5 s cap).
std::string raw_exchange(std::uint16_t port, const std::string& request) {
  const int fd = send_raw(port, request);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
  for (const auto end = Clock::now() + limit; Clock::now() < end;
       std::this_thread::sleep_for(5ms)) {
    if (done()) return true;
  }
  return done();
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void set_mtime(const fs::path& p, std::time_t t) {
  const timeval times[2] = {{t, 0}, {t, 0}};
  REQUIRE(::utimes(p.c_str(), times) == 0);
}

// ---- the tree every test serves ----------------------------------------------------------------

class Demo : public Sandbox {
public:
  Demo() : data(random_bytes(100000, 1)) {
    write_file(root() / "README.txt", "hello, world\n");
    write_file(root() / "data.bin", data);
    write_file(root() / "a b.txt", "spaced\n");
    write_file(root() / "sub" / "inner.txt", "inner\n");
    write_file(root() / ".hidden", "x");
    for (const auto& e : fs::recursive_directory_iterator(root())) set_mtime(e.path(), kJan5);
    set_mtime(root(), kJan5);
  }
  fs::path root() const { return path() / "tree"; }
  ServerOptions options() const { return ServerOptions{.root = root()}; }

  const std::string data;
  static constexpr const char* kData = "/files/demo/1.0/data.bin";
};

std::string flipped(std::string s) {
  for (char& c : s) c = static_cast<char>(~c);
  return s;
}

}  // namespace

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
