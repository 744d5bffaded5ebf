// SPDX-License-Identifier: MIT
// HTTP/1.1 wire helpers for the test server: request-head parsing, escaping, dates and byte
// ranges. Pure functions, no I/O, so the router and the listing renderer stay easy to read.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync::test::http {

// Limits in the spirit of nginx's large_client_header_buffers: a head larger than this is refused.
inline constexpr std::size_t kMaxHeadBytes = 32 * 1024;
inline constexpr std::size_t kMaxHeaderCount = 100;

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
// First header called `name` (case-insensitive), or nullptr.
const std::string* find_header(const Headers& headers, std::string_view name);

struct RequestHead {
  std::string method;
  std::string target;     // as sent
  int minor_version = 1;  // HTTP/1.<minor_version>
  Headers headers;

  const std::string* header(std::string_view name) const { return find_header(headers, name); }
  // HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0 only with "keep-alive".
  bool keep_alive() const;
};

// Parses "request-line CRLF *(field-line CRLF) CRLF" (the whole head, final CRLF included).
// Refuses anything malformed: bad request line, a version other than 1.0/1.1, obs-fold, a field
// name with spaces, too many fields.
std::optional<RequestHead> parse_request_head(std::string_view head);

// "%41" → "A". nullopt on a malformed escape. '+' is left alone (this is a path, not a form).
std::optional<std::string> percent_decode(std::string_view s);
// Escapes every byte except ASCII letters, digits and the characters in `keep`.
std::string percent_encode(std::string_view s, std::string_view keep, bool upper_hex);
// < > & " → entities (what both nginx's ngx_escape_html and Apache's ap_escape_html do).
std::string html_escape(std::string_view s);
std::optional<std::string> base64_decode(std::string_view s);

// IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string imf_fixdate(std::time_t t);
std::optional<std::time_t> parse_imf_fixdate(std::string_view s);
// Three-letter English month name, index 0..11.
std::string_view month_abbrev(int month0);

std::string_view reason_phrase(int status);

// A single "Range: bytes=..." header against a representation of `size` bytes.
struct ByteRange {
  enum class Kind {
    Ignore,         // absent, another unit, several ranges or unparseable: answer 200
    Satisfiable,    // answer 206 with [first, last]
    Unsatisfiable,  // answer 416
  };
  Kind kind = Kind::Ignore;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};
// Like nginx: "bytes=N-", "bytes=N-M" and "bytes=-S"; N >= size or M < N is 416.
ByteRange parse_range(std::string_view value, std::uint64_t size);

}  // namespace pnsync::test::http
