// SPDX-License-Identifier: MIT
#include "protocol/methods.hpp"

#include <array>
#include <utility>

namespace pnsync::protocol {
namespace {

// Wire names are part of the protocol: never rename or reuse one; a removed method stays here
// as a comment so its name is not given to something else.
constexpr std::array kMethods = {
    MethodInfo{Method::Hello, "hello", false, false},
    MethodInfo{Method::Status, "status", false, false},
    MethodInfo{Method::Pause, "pause", true, false},
    MethodInfo{Method::Resume, "resume", true, false},
    MethodInfo{Method::Sync, "sync", true, false},
    MethodInfo{Method::Failures, "failures", false, false},
    MethodInfo{Method::Retry, "retry", true, false},
    MethodInfo{Method::Verify, "verify", true, false},
    MethodInfo{Method::Limit, "limit", true, true},
    MethodInfo{Method::Transfers, "transfers", true, true},
    MethodInfo{Method::Plan, "plan", false, false},
    MethodInfo{Method::Refetch, "refetch", true, false},
};

constexpr std::array<std::pair<ErrorCode, std::string_view>, 8> kErrorNames = {{
    {ErrorCode::None, "none"},
    {ErrorCode::BadRequest, "bad_request"},
    {ErrorCode::UnknownMethod, "unknown_method"},
    {ErrorCode::TooLarge, "too_large"},
    {ErrorCode::NotPermitted, "not_permitted"},
    {ErrorCode::UnknownMirror, "unknown_mirror"},
    {ErrorCode::Failed, "failed"},
    {ErrorCode::Unsupported, "unsupported"},
}};

}  // namespace

std::span<const MethodInfo> methods() {
  return kMethods;
}

const MethodInfo& info(Method method) {
  for (const MethodInfo& row : kMethods)
    if (row.method == method) return row;
  return kMethods.front();  // unreachable: every enumerator has a row (checked by the tests)
}

std::string_view to_string(Method method) {
  return info(method).name;
}

std::optional<Method> method_from_string(std::string_view name) {
  for (const MethodInfo& row : kMethods)
    if (row.name == name) return row.method;
  return std::nullopt;
}

std::string known_method_names() {
  std::string names;
  for (const MethodInfo& row : kMethods) {
    if (!names.empty()) names += ", ";
    names += row.name;
  }
  return names;
}

std::string_view to_string(ErrorCode code) {
  for (const auto& [value, name] : kErrorNames)
    if (value == code) return name;
  return "failed";
}

std::optional<ErrorCode> error_code_from_string(std::string_view name) {
  for (const auto& [value, text] : kErrorNames)
    if (text == name) return value;
  return std::nullopt;
}

}  // namespace pnsync::protocol
