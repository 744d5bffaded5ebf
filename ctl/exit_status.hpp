// SPDX-License-Identifier: MIT
// pnsyncctl's exit statuses; printed by `pnsyncctl --help` and documented in
// docs/control-protocol.md. 3..5 are left unused so they never mean something else than they
// do for pnsyncd.
#pragma once

namespace pnsync::ctl {

enum class ExitStatus : int {
  Ok = 0,
  DaemonError = 1,  // pnsyncd answered with an error (not permitted, unknown mirror, ...)
  Usage = 2,        // bad command line or configuration file
  Unreachable = 6,  // no answer on the socket: missing, permission denied, refused, timed out
  NoPnsyncd = 127,  // doctor: pnsyncd, which runs the checks, not found or not runnable (as sh)
};

inline int code(ExitStatus status) {
  return static_cast<int>(status);
}

}  // namespace pnsync::ctl
