// SPDX-License-Identifier: MIT
#include "daemon/disk/disk_space.hpp"

#include <sys/statvfs.h>

#include <algorithm>

#include "common/progress.hpp"

namespace pnsync {

std::optional<FilesystemSpace> filesystem_space(const std::filesystem::path& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return std::nullopt;
  const auto unit = static_cast<std::int64_t>(info.f_frsize);
  return FilesystemSpace{static_cast<std::int64_t>(info.f_bavail) * unit,
                         static_cast<std::int64_t>(info.f_blocks) * unit};
}

std::int64_t space_reserve(const FilesystemSpace& space) {
  return std::min<std::int64_t>(space.size / 100, std::int64_t{1} << 30);
}

std::optional<std::string> shortage(std::int64_t remaining, const FilesystemSpace& space) {
  if (remaining <= 0 || remaining + space_reserve(space) <= space.available) return std::nullopt;
  return "needs " + format_bytes(remaining) + ", " +
         format_bytes(std::max<std::int64_t>(0, space.available)) + " free";
}

}  // namespace pnsync
