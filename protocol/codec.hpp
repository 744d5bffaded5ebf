// SPDX-License-Identifier: MIT
// The control protocol's wire form: one JSON object per line (docs/control-protocol.md). This is
// the only interface to the JSON library; callers see the plain structs of messages.hpp.
//
// Decoding reads untrusted bytes (the daemon decodes requests from any local user), so it never
// throws and never trusts a type or a range: every problem comes back as a DecodeError whose
// message names the field at fault.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "protocol/messages.hpp"

namespace pnsync::protocol {

struct DecodeError {
  ErrorCode code = ErrorCode::BadRequest;  // BadRequest, or UnknownMethod
  std::string message;
  std::int64_t id = 0;  // the request's id when it could be read, so the answer can echo it
};

// A decoded value or why there is none.
template <class T>
class [[nodiscard]] Decoded {
public:
  Decoded(T value) : value_(std::move(value)) {}            // NOLINT: implicit on purpose
  Decoded(DecodeError error) : value_(std::move(error)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return ok(); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  const DecodeError& error() const { return std::get<DecodeError>(value_); }

private:
  std::variant<T, DecodeError> value_;
};

// One line each, ending in "\n". Strings that are not valid UTF-8 (a file name on disk can be any
// bytes) are written with U+FFFD in place of the bad bytes rather than failing.
std::string encode(const Request& request);
std::string encode(const Response& response);

// `line` without its "\n" (a trailing "\r" is tolerated). Unknown fields are ignored, so a newer
// peer may add some; known fields must have the documented type and range.
Decoded<Request> decode_request(std::string_view line);
Decoded<Response> decode_response(std::string_view line);

// The documented `--json` objects of pnsyncctl, indented by `indent` (-1: one line). For a
// successful response: the status object, the failures array, the plans array, or
// {"message": "..."}; for an error: {"error": "not_permitted", "message": "..."}.
std::string result_json(const Response& response, int indent = 2);
// One element of the failures array as result_json writes it (without a newline), for a client
// that prints the array a page at a time.
std::string failure_json(const FailedFile& failed, int indent = 2);

}  // namespace pnsync::protocol
