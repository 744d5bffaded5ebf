// SPDX-License-Identifier: MIT
// An in-process HTTP/1.1 server on 127.0.0.1 for integration tests, shaped like physionet.org:
// Basic auth honoured only for a Wget/ User-Agent, nginx-style files (Range, 206, 416,
// Last-Modified, Content-Length) and listings, and per-path fault modes in the spirit of curl's
// test server. It runs its own Asio thread; every public method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pnsync::test {

enum class ListingStyle { Nginx, Apache, DevServer };

struct Fault {
  enum class Kind {
    None,
    ResetAfter,   // send headers and `bytes` body bytes, then close the connection (RST)
    Stall,        // send headers and `bytes` body bytes, then go silent (until the client leaves)
    Slow,         // send the body at `bytes` bytes per second
    Status,       // answer `status` with an empty body (+ Retry-After if retry_after is set)
    IgnoreRange,  // answer 200 with the whole body even when a Range was asked for
    WrongBytes,   // the right length, but the content with every byte flipped
    Always416,    // answer every ranged request with 416 and "Content-Range: bytes */<size>"
    Truncate,     // send a Content-Length of the full size but only `bytes` bytes, then close
  };
  Kind kind = Kind::None;
  std::int64_t bytes = 0;
  int status = 503;
  std::optional<std::string> retry_after;  // header value, verbatim
  int times = -1;                          // how many requests it hits; -1 = every request
};

struct RequestRecord {
  std::string method;
  std::string target;      // as sent, percent-escaped, e.g. "/files/demo/1.0/a%20b.txt"
  std::string range;       // Range header or ""
  std::string user_agent;
  std::string authorization;
  std::string cookie;
  int status = 0;
};

struct ServerOptions {
  std::filesystem::path root;          // served under url_prefix
  std::string url_prefix = "/files/demo/1.0/";
  std::optional<std::string> username; // when set, Basic auth is required (401 without)
  std::optional<std::string> password;
  ListingStyle listing_style = ListingStyle::Nginx;
};

class HttpServer {
public:
  explicit HttpServer(ServerOptions options);  // binds 127.0.0.1:0 and starts serving
  ~HttpServer();                               // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  std::string base_url() const;                // "http://127.0.0.1:<port>"

  // Applies to requests whose target (decoded path, no query) equals url_path.
  void set_fault(const std::string& url_path, Fault fault);
  void clear_faults();

  std::vector<RequestRecord> requests() const;
  std::size_t count_requests(const std::string& url_path) const;  // by decoded path
  void clear_requests();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pnsync::test
