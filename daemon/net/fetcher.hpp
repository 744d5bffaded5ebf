// SPDX-License-Identifier: MIT
// What a mirror pass needs from the network: GET requests it can cancel, each ending in one
// HttpOutcome. HttpClient is the one over libcurl; tests/support/fake_fetcher.hpp answers from a
// script, so that a whole pass (manifest, crawl, files, retries, stops) runs without sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/net/rate_budget.hpp"

namespace pnsync {

// What the response said, as far as the engine cares.
struct ResponseInfo {
  long status = 0;
  std::optional<std::int64_t> content_length;
  std::optional<std::string> content_range;
  std::optional<std::string> retry_after;
  std::optional<std::string> last_modified;
  std::optional<std::string> location;
};

struct HttpOutcome {
  std::string url;
  int curl_code = 0;       // CURLcode
  std::string curl_error;  // curl's error buffer, when curl_code != 0
  ResponseInfo info;
  std::int64_t body_bytes = 0;    // bytes handed to the body handler
  double seconds_to_headers = 0;  // request start to the end of the response headers (latency)
  // The request went out on a connection: false when connecting or the TLS handshake failed or
  // timed out (a connect time-out is then the server turning connections away, not a stall).
  bool request_sent = false;

  // The server saw the request (it was sent, or answered): a failure that did not is the host out
  // of connections, not the request's fault.
  bool connected() const { return request_sent || info.status != 0; }
};

struct GetRequest {
  std::string url;
  std::optional<std::int64_t> range_from;  // "Range: bytes=N-"
  std::optional<std::int64_t> range_to;    // "Range: bytes=N-M": M, the last byte wanted
  bool compressed = false;                 // listings may come gzip'd; file bodies never
  // What the body is paced against (bandwidth_limit of the host and of the mirror); empty =
  // nothing. The budgets are shared with other requests and may change rate while this one runs.
  ReceiveBudgets budgets;
  bool head = false;  // HEAD instead of GET: status and headers only
  // "If-Modified-Since: <IMF-fixdate>", seconds since the epoch: a server that still has that
  // modification time answers 304 with no body (outcome.info.status; classify calls it a success).
  std::optional<std::int64_t> if_modified_since;
  // Called for each body chunk of the final response; return false to abort the transfer
  // (it then ends with CURLE_WRITE_ERROR).
  std::function<bool(const ResponseInfo&, std::string_view chunk)> on_body;
};

class Fetcher {
public:
  using RequestId = void*;  // opaque to callers

  virtual ~Fetcher() = default;
  // `done` runs later on the loop, once, unless the request is cancelled first.
  virtual RequestId get(GetRequest request, std::function<void(const HttpOutcome&)> done) = 0;
  // Stops a request; its `done` never runs.
  virtual void cancel(RequestId id) = 0;
  // The request will be cut short: its connection is not worth keeping once it ends.
  virtual void close_connection_after(RequestId id) = 0;

protected:
  Fetcher() = default;
  Fetcher(const Fetcher&) = default;
  Fetcher& operator=(const Fetcher&) = default;
  Fetcher(Fetcher&&) = default;
  Fetcher& operator=(Fetcher&&) = default;
};

}  // namespace pnsync
