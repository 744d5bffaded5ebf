// SPDX-License-Identifier: MIT
// pnsyncd's exit statuses; documented in README.md and `pnsyncd --help`.
#pragma once

namespace pnsync {

enum class ExitCode : int {
  Ok = 0,            // every selected file is present and verified
  FilesFailed = 1,   // some files (or listings) failed; they are listed
  BadUsage = 2,      // bad configuration or command line
  AuthFailed = 3,    // 401: the server refused the credentials
  AccessDenied = 4,  // 403: no access to a project version
  LocalStorage = 5,  // permission, disk full, state directory in use
};

}  // namespace pnsync
