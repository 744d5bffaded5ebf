// SPDX-License-Identifier: MIT
// Turns one parsed request into a Response plan, the way physionet.org would answer it: auth
// first (Django), then nginx (files, ranges, listings, redirects), with the configured faults
// folded in. Owns the state tests poke from their own thread (faults, request log, sessions),
// hence the mutex. It does no socket I/O: Connection carries the plan out.
#pragma once

#include "tests/support/http_server.hpp"
#include "tests/support/http_wire.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace pnsync::test {

struct FileSlice {
  std::filesystem::path path;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

enum class Framing {
  None,  // no body and no length (304)
  ContentLength,
  Chunked,     // nginx listings
  UntilClose,  // a chunked body for an HTTP/1.0 client: no length, close at the end
};

struct Response {
  int status = 200;
  http::Headers headers;  // everything but Content-Length / Transfer-Encoding (added on the wire)
  std::variant<std::string, FileSlice> body;  // the payload a GET carries (HEAD: only its size)
  Framing framing = Framing::ContentLength;
  bool send_body = true;  // false for HEAD and 304
  bool close = false;     // close the connection after this response
  Fault fault;            // a body fault to play (ResetAfter, Stall, Slow, WrongBytes, Truncate)
  std::uint64_t request_serial = 0;  // the logged request it answers (Router::count_body_bytes)

  std::uint64_t body_size() const;
  std::string head() const;  // status line and header block, final CRLF included
};

class Router {
public:
  explicit Router(ServerOptions options);

  // Set once the listening socket is bound (redirects and Apache's <address> need them).
  void set_origin(std::string scheme, std::uint16_t port);
  const ServerOptions& options() const { return options_; }

  // Decides the response to `req`, logs the request with the chosen status. Never throws.
  Response route(const http::RequestHead& req, std::uint64_t connection);
  // For a head that could not be parsed (400) or was too large (431): logged, then close.
  Response reject(int status, std::uint64_t connection);

  void set_fault(const std::string& url_path, Fault fault);
  void clear_faults();
  std::vector<RequestRecord> requests() const;
  std::size_t count_requests(const std::string& url_path) const;
  void clear_requests();  // also zeroes body_bytes_sent()
  // `n` more body bytes of the response to request `serial` (Response::request_serial) went out:
  // added to the total and to that request's record, if the log still holds it.
  void count_body_bytes(std::uint64_t n, std::uint64_t serial);
  // Takes back `n` of them: a write that failed did not hand them over after all.
  void uncount_body_bytes(std::uint64_t n, std::uint64_t serial);
  std::uint64_t body_bytes_sent() const { return body_bytes_; }

private:
  struct Auth {
    std::optional<Response> denied;
    std::optional<http::Header> set_cookie;  // a new session after a good Basic login
  };

  Response dispatch(const http::RequestHead& req, const std::string& path);
  Auth authenticate(const http::RequestHead& req);
  Response serve_directory(const http::RequestHead& req, const std::string& path,
                           const std::filesystem::path& dir);
  Response serve_file(const http::RequestHead& req, const std::string& path,
                      const std::filesystem::path& file, const struct stat& st);
  Response redirect_to_slash(const http::RequestHead& req);
  Response error(int status) const;
  std::optional<std::filesystem::path> map_to_root(const std::string& path) const;
  // Takes one use of the fault on `path` if `applies` says it would change this request.
  std::optional<Fault> take_fault(const std::string& path,
                                  const std::function<bool(const Fault&)>& applies);
  // Connection handling, HEAD, HTTP/1.0; then add_server_headers().
  void finalize(const http::RequestHead& req, Response& res) const;
  void add_server_headers(Response& res, int minor_version) const;  // Server, Date, Connection
  std::uint64_t log(RequestRecord record);  // returns the request's serial number

  const ServerOptions options_;
  std::string scheme_ = "http";
  std::uint16_t port_ = 0;

  mutable std::mutex mutex_;  // guards everything below
  std::map<std::string, Fault> faults_;
  std::vector<RequestRecord> log_;
  std::uint64_t first_serial_ = 1;  // serial number of log_.front(); they count up from there
  std::set<std::string> sessions_;
  std::atomic<std::uint64_t> body_bytes_{0};
};

}  // namespace pnsync::test
