// SPDX-License-Identifier: MIT
// The method table: one row per control method, read by the codec (names), the server
// (whether a method changes anything, so who may call it) and pnsyncctl (help). Adding a method
// means one row here, one case in the engine's ControlTarget and a line in
// docs/control-protocol.md.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/messages.hpp"

namespace pnsync::protocol {

struct MethodInfo {
  Method method;
  std::string_view name;  // on the wire
  bool changes;           // true: root, the daemon's user or control_group members only
  bool takes_value;       // `value` is required (limit, transfers)
};

std::span<const MethodInfo> methods();
const MethodInfo& info(Method method);
std::string_view to_string(Method method);
std::optional<Method> method_from_string(std::string_view name);
// "hello, status, pause, …": for the unknown-method message and help texts.
std::string known_method_names();

std::string_view to_string(ErrorCode code);  // "not_permitted"
std::optional<ErrorCode> error_code_from_string(std::string_view name);

}  // namespace pnsync::protocol
