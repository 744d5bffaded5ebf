// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "daemon/net/http_client.hpp"

using pnsync::apply_header_line;
using pnsync::ResponseInfo;

TEST_CASE("response headers are read case-insensitively and reset by each status line", "[http]") {
  ResponseInfo info;
  apply_header_line(info, "HTTP/1.1 301 Moved Permanently\r\n");
  apply_header_line(info, "Location: https://example/x/\r\n");
  CHECK(info.status == 301);
  apply_header_line(info, "HTTP/2 206\r\n");
  CHECK_FALSE(info.location);
  apply_header_line(info, "content-range: bytes 100-199/1000\r\n");
  apply_header_line(info, "Content-Length:   100\r\n");
  apply_header_line(info, "RETRY-AFTER: 5\r\n");
  apply_header_line(info, "Last-Modified: Thu, 14 Jan 2021 20:53:00 GMT\r\n");
  CHECK(info.status == 206);
  CHECK(info.content_range == "bytes 100-199/1000");
  CHECK(info.content_length == 100);
  CHECK(info.retry_after == "5");
  CHECK(info.last_modified == "Thu, 14 Jan 2021 20:53:00 GMT");
}

TEST_CASE("a malformed Content-Length is ignored, not trusted", "[http]") {
  ResponseInfo info;
  apply_header_line(info, "Content-Length: 12abc\r\n");
  CHECK_FALSE(info.content_length);
  apply_header_line(info, "Content-Length: -5\r\n");
  CHECK_FALSE(info.content_length);
}

TEST_CASE("Retry-After holds the host only from a 429 or 503, and never past retry_after_max",
          "[http]") {
  using namespace std::chrono_literals;
  const auto wait = [](long status, std::string value) {
    pnsync::HttpOutcome outcome;
    outcome.info.status = status;
    outcome.info.retry_after = std::move(value);
    return pnsync::requested_wait(outcome, 1h);
  };
  CHECK(wait(429, "120") == 120s);
  CHECK(wait(503, "0") == 0s);
  CHECK(wait(503, "Thu, 01 Jan 1970 00:00:00 GMT") == 0s);  // a date gone by: no wait
  CHECK(wait(429, "31536000") == 1h);                       // a year: capped
  CHECK(wait(429, "99999999999999999999999999") == 1h);     // no overflow
  CHECK(wait(503, "Fri, 31 Dec 9999 23:59:59 GMT") == 1h);
  CHECK(wait(429, "soon") == std::nullopt);  // garbage asks for nothing
  CHECK(wait(429, "-5") == std::nullopt);
  // Other statuses may carry the header with other meanings; they hold nothing.
  CHECK(wait(200, "60") == std::nullopt);
  CHECK(wait(500, "60") == std::nullopt);
  CHECK(wait(301, "60") == std::nullopt);
  pnsync::HttpOutcome none;
  none.info.status = 429;
  CHECK(pnsync::requested_wait(none, 1h) == std::nullopt);
}
