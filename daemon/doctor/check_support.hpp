// SPDX-License-Identifier: MIT
// What the checks of `pnsyncd --doctor` share: building a CheckResult, and the pieces of text
// their messages are made of. Internal to daemon/doctor/.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "config/config.hpp"
#include "daemon/doctor/doctor.hpp"
#include "daemon/net/http_client.hpp"

namespace pnsync::doctor::detail {

CheckResult ok(std::string name, std::string detail);
CheckResult warn(std::string name, std::string detail, std::string fix);
CheckResult fail(std::string name, std::string detail, std::string fix);
CheckResult skipped(std::string name, std::string why);
// "0750"
std::string octal(mode_t mode);
// "in /etc/pnsync/pnsync.yaml", naming the file a setting comes from.
std::string in_file(const config::Config& config);
// Where a directory that may not exist yet lives, for messages.
std::string where(const std::filesystem::path& path, const std::filesystem::path& existing);
// The status line of an answer, or curl's error when none came.
std::string answer(const HttpOutcome& probe);

}  // namespace pnsync::doctor::detail
