// SPDX-License-Identifier: MIT
#include "daemon/doctor/check_support.hpp"

#include <cstdio>
#include <utility>

namespace pnsync::doctor::detail {

CheckResult ok(std::string name, std::string detail) {
  return {std::move(name), Status::Ok, std::move(detail), {}};
}

CheckResult warn(std::string name, std::string detail, std::string fix) {
  return {std::move(name), Status::Warn, std::move(detail), std::move(fix)};
}

CheckResult fail(std::string name, std::string detail, std::string fix) {
  return {std::move(name), Status::Fail, std::move(detail), std::move(fix)};
}

CheckResult skipped(std::string name, std::string why) {
  return {std::move(name), Status::Skipped, "not checked: " + std::move(why), {}};
}

std::string octal(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

std::string in_file(const config::Config& config) {
  return "in " + config.source_file.string();
}

std::string where(const std::filesystem::path& path, const std::filesystem::path& existing) {
  if (path == existing) return path.string();
  return path.string() + " (missing; pnsyncd will create it in " + existing.string() + ")";
}

std::string answer(const HttpOutcome& probe) {
  if (probe.curl_code != 0) return probe.curl_error;
  std::string text = std::to_string(probe.info.status);
  switch (probe.info.status) {
    case 200:
      return text + " OK";
    case 401:
      return text + " Unauthorized";
    case 403:
      return text + " Forbidden";
    case 404:
      return text + " Not Found";
    default:
      return text;
  }
}

}  // namespace pnsync::doctor::detail
