// SPDX-License-Identifier: MIT
// The clients the fixture server's self-test talks to it with: libcurl's easy interface (what
// pnsync uses) and, for what curl will not send, a raw socket; and the tree every test serves.
#pragma once

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
#include <string>
#include <thread>

namespace pnsync::test::selftest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline constexpr const char* kWget = "Wget/1.21.3 (compatible; pnsync-test)";
inline constexpr std::time_t kJan5 = 1704462300;  // 2024-01-05 13:45:00 UTC = 0x659807dc
inline const CURLcode kCurlInit = curl_global_init(CURL_GLOBAL_DEFAULT);

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

inline Reply fetch(const Get& get) {
  return Client().fetch(get);
}

// ---- a raw client, for requests curl will not send -------------------------------------------

// A TCP connection to the server on loopback that has sent `request` as is (receives time out
// after 5 s).
inline int send_raw(std::uint16_t port, const std::string& request) {
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
inline std::string raw_exchange(std::uint16_t port, const std::string& request) {
  const int fd = send_raw(port, request);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
  for (const auto end = Clock::now() + limit; Clock::now() < end;
       std::this_thread::sleep_for(5ms)) {
    if (done()) return true;
  }
  return done();
}

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline void set_mtime(const fs::path& p, std::time_t t) {
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

inline std::string flipped(std::string s) {
  for (char& c : s) c = static_cast<char>(~c);
  return s;
}

}  // namespace pnsync::test::selftest
