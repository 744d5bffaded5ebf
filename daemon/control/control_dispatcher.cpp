// SPDX-License-Identifier: MIT
#include "daemon/control/control_dispatcher.hpp"

#include <string>

#include "protocol/methods.hpp"

namespace pnsync {
namespace {

std::string read_only_methods() {
  std::string names;
  for (const protocol::MethodInfo& method : protocol::methods()) {
    if (method.changes || method.method == protocol::Method::Hello) continue;
    names += names.empty() ? "" : ", ";
    names += method.name;
  }
  return names;
}

}  // namespace

protocol::Response ControlDispatcher::answer(const protocol::Request& request,
                                             const PeerCredentials& peer) {
  protocol::Response response;
  response.id = request.id;
  if (request.method == protocol::Method::Hello) {
    // One version so far; a later one may keep answering older clients in their version.
    if (request.version != protocol::kProtocolVersion) {
      response.error = protocol::ErrorCode::Unsupported;
      response.message = "pnsyncd speaks control protocol version " +
                         std::to_string(protocol::kProtocolVersion) + ", the client version " +
                         std::to_string(request.version) + "; use a matching pnsyncctl";
      return response;
    }
    response.hello_version = protocol::kProtocolVersion;
    response.message = "pnsyncd control protocol " + std::to_string(protocol::kProtocolVersion);
    return response;
  }
  const protocol::MethodInfo& method = protocol::info(request.method);
  if (method.changes && !policy_.may_change(peer)) {
    response.error = protocol::ErrorCode::NotPermitted;
    response.message = std::string(method.name) + " changes what pnsyncd does: only " +
                       policy_.who_may_change() + " may call it; you are uid " +
                       std::to_string(peer.uid) + " (anyone connected may call " +
                       read_only_methods() + ")";
    return response;
  }
  response = target_.handle(request);
  response.id = request.id;  // whatever the engine set, the answer must match the question
  return response;
}

}  // namespace pnsync
