// SPDX-License-Identifier: MIT
#include "daemon/job/pass_control.hpp"

#include <cerrno>

namespace pnsync {

JobStatus storage_status(const Error& error) {
  return error.errno_value == ENOSPC || error.errno_value == EDQUOT ? JobStatus::NoSpace
                                                                    : JobStatus::LocalStorage;
}

std::string_view to_string(JobStatus status) {
  switch (status) {
    case JobStatus::Running:
      return "running";
    case JobStatus::Done:
      return "done";
    case JobStatus::AuthFailed:
      return "authentication failed";
    case JobStatus::AccessDenied:
      return "access denied";
    case JobStatus::LocalStorage:
      return "local storage problem";
    case JobStatus::NoSpace:
      return "waiting for disk space";
    case JobStatus::Stopped:
      return "stopped";
    case JobStatus::Failed:
      return "failed";
  }
  return "?";
}

}  // namespace pnsync
