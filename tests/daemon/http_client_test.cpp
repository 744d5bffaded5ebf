// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "daemon/http_client.hpp"

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
