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
#include <string_view>
#include <utility>
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
    // Answer a ranged request with a 206 whose Content-Range starts `bytes` bytes after the
    // offset asked for (the body is that later slice, so the header is honest about it).
    WrongContentRange,
    // Answer 200 with the whole body where If-Modified-Since or If-None-Match would get a 304
    // (a server or proxy that ignores conditional requests).
    IgnoreConditional,
  };
  Kind kind = Kind::None;
  std::int64_t bytes = 0;
  int status = 503;
  std::optional<std::string> retry_after{};  // header value, verbatim
  int times = -1;                            // how many requests it hits; -1 = every request
};

struct RequestRecord {
  std::string method{};
  std::string target{};  // as sent, percent-escaped, e.g. "/files/demo/1.0/a%20b.txt"
  std::string range{};   // Range header or ""
  std::string user_agent{};
  std::string authorization{};
  std::string cookie{};
  int status = 0;                // the status sent (faults included); 400/431 for unparseable heads
  std::string path{};            // decoded path without the query, e.g. "/files/demo/1.0/a b.txt"
  std::uint64_t connection = 0;  // serial number of the TCP connection (1, 2, ...) it came on
  std::vector<std::pair<std::string, std::string>> headers{};  // all request headers, in order
  std::chrono::steady_clock::time_point at{};                  // when its head was parsed
  // Response body bytes handed to the socket for it so far (faults included; a chunked listing
  // counts payload bytes, not framing). Less than the body when the client left early.
  std::uint64_t body_bytes = 0;

  // First header of that name (case-insensitive), e.g. header("If-Range").
  std::optional<std::string> header(std::string_view name) const;
};

struct ServerOptions {
  std::filesystem::path root{};  // served under url_prefix
  std::string url_prefix = "/files/demo/1.0/";
  std::optional<std::string> username{};  // when set, Basic auth is required (401 without)
  std::optional<std::string> password{};
  ListingStyle listing_style = ListingStyle::Nginx;
  // Like physionet's Django sessions: after a successful Basic login on a request that carried
  // any Cookie, answer with "Set-Cookie: sessionid=..."; a request presenting that cookie is then
  // served without credentials (whatever its User-Agent).
  bool session_cookies = true;
  // HTTPS when both are set (PEM files; the certificate file may hold the chain). See test_ca.hpp.
  std::optional<std::filesystem::path> tls_cert_file{};
  std::optional<std::filesystem::path> tls_key_file{};
};

class HttpServer {
public:
  explicit HttpServer(ServerOptions options);  // binds 127.0.0.1:0 and starts serving
  ~HttpServer();                               // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  std::string base_url() const;  // "http://127.0.0.1:<port>" ("https://" with TLS)
  // base_url() + url_prefix + relative; `relative` is used as given (escape it yourself).
  std::string url(std::string_view relative = {}) const;

  // Applies to requests whose target (decoded path, no query) equals url_path, e.g.
  // "/files/demo/1.0/a.bin" or, for a listing, "/files/demo/1.0/sub/". A later call for the same
  // path replaces the fault. `times` counts only requests the fault actually changed:
  // - Status hits every request for the path (before authentication);
  // - IgnoreRange, Always416 and WrongContentRange hit GETs/HEADs of a file that carry a Range
  //   header (WrongContentRange only when the shifted start still lies inside the file);
  // - IgnoreConditional hits requests for a file that would have been answered 304;
  // - ResetAfter, Stall, Slow, WrongBytes and Truncate hit responses that send a body
  //   (200/206 file or listing to a GET; a chunked listing counts payload bytes, not framing).
  void set_fault(const std::string& url_path, Fault fault);
  void clear_faults();

  // The next `count` connections are accepted and then left silent: their TLS handshake (or
  // request) waits until the client gives up, as physionet.org's connects beyond its limit do.
  void hang_connections(int count);

  std::vector<RequestRecord> requests() const;
  std::size_t count_requests(const std::string& url_path) const;  // by decoded path
  void clear_requests();
  // Response body bytes written to sockets since the start (or the last clear_requests), faults
  // included: what the mirror cost the server. Counted as each piece is handed to the socket
  // (RequestRecord::body_bytes splits it by request).
  std::uint64_t body_bytes_sent() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pnsync::test
