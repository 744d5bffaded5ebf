// SPDX-License-Identifier: MIT
// Authenticated GET requests against one PhysioNet-style server: every request carries the same
// TLS, credential, cookie and time-out policy, set in exactly one place.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "daemon/net/curl_engine.hpp"
#include "daemon/net/fetcher.hpp"
#include "daemon/net/rate_budget.hpp"

namespace pnsync {

struct HttpSettings {
  std::string user_agent;
  std::optional<std::string> username;
  // Kept in memory only, never logged; wiped with the settings. Each easy handle gets a copy
  // made by libcurl (CURLOPT_PASSWORD), so these must live as long as new requests are made.
  std::optional<config::Secret> password;
  std::optional<std::filesystem::path> ca_file;
  bool ca_replace_system = false;  // ca_file alone, instead of ca_file and the system's CAs
  // Where "the system's CAs" are; nullopt: libcurl's built-in default (Debian's libcurl: the
  // bundle /etc/ssl/certs/ca-certificates.crt and the hashed directory /etc/ssl/certs). Tests
  // point it at a CA of their own.
  struct CaLocations {
    std::optional<std::filesystem::path> file;  // CURLOPT_CAINFO
    std::optional<std::filesystem::path> dir;   // CURLOPT_CAPATH
  };
  std::optional<CaLocations> system_cas;
  bool allow_plain_http = false;  // only for loopback servers (checked by config)
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{60};
  // Until set_connection_limit says otherwise (the engine does, from the controller).
  long max_connections = 20;
  long streams_per_connection = 1;
};

// The settings for `config.server`: its user agent, username, ca_file and time-outs, with
// `password`; plain http:// only for a loopback server (config refuses it for any other host).
HttpSettings make_http_settings(const config::Config& config,
                                const std::optional<config::Secret>& password);

// The Fetcher over libcurl: a RequestId is the curl easy handle, opaque to callers.
class HttpClient final : public Fetcher {
public:
  HttpClient(boost::asio::io_context& io, HttpSettings settings);
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpClient(HttpClient&&) = delete;
  HttpClient& operator=(HttpClient&&) = delete;

  RequestId get(GetRequest request, std::function<void(const HttpOutcome&)> done) override;
  // Stops a request. Over HTTP/1.1 curl must close its connection; over HTTP/2 it is closed too
  // when no other stream uses it, rather than left to carry what the server already sent (on a
  // paced path with a deep queue, seconds of a connection's time).
  void cancel(RequestId id) override;
  // The request will be cut short (its answer past some byte is no longer wanted, a byte range
  // was split): its connection is closed when it ends, for the same reason.
  void close_connection_after(RequestId id) override;
  std::size_t active() const;
  // At most `connections` open to the server (idle ones beyond it are closed), each carrying at
  // most `streams` requests at once.
  void set_connection_limit(long connections, long streams);
  // TCP connections open now (sockets curl opened and has not closed).
  int open_connections() const;
  // Requests in flight whose response began with a 2xx status: what the server is serving.
  int answered_in_flight() const;
  // Sees every finished request before its own handler does (adaptive concurrency counts
  // throttling signals here).
  void set_observer(std::function<void(const HttpOutcome&)> observer);

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What connect_only() found out.
struct ConnectOutcome {
  std::string url;
  int curl_code = 0;       // CURLcode; 0 = resolved, connected and (https) TLS verified
  std::string curl_error;  // curl's error buffer, when curl_code != 0
  bool connected = false;  // the TCP connection was made (a failure then lies in TLS)
  std::string remote;      // "address:port" it connected to, when connected
};

// Resolves `url`'s host, connects and, for https, completes and verifies the TLS handshake under
// the same policy as every request (protocols, ca_file, peer and host verification, connect
// time-out), then hangs up without sending a request: no credentials travel. Blocking; for
// start-up checks (pnsyncd --doctor), never on the event loop.
ConnectOutcome connect_only(const HttpSettings& settings, const std::string& url);

// "<url>: <curl's error or the HTTP status>", for messages a user reads.
std::string describe_failure(const HttpOutcome& outcome);

// The wait a Retry-After header asks for, at most `cap` (retry_after_max): only a 429 or 503
// speaks for the host (RFC 9110 gives Retry-After other meanings, e.g. on a redirect), and an
// unparsable value asks for nothing.
std::optional<std::chrono::seconds> requested_wait(const HttpOutcome& outcome,
                                                   std::chrono::seconds cap);

// Parses "Name: value" header lines case-insensitively into ResponseInfo; a status line resets it
// (each redirect or 100-continue starts a new response). Exposed for tests.
void apply_header_line(ResponseInfo& info, std::string_view line);

}  // namespace pnsync
