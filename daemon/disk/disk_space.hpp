// SPDX-License-Identifier: MIT
// Will the rest of a mirror fit on its filesystem? Checked before and during a pass, so that a
// full disk pauses the mirror with one clear message ("needs 1.2 TiB, 310 GiB free") instead of
// failing files one by one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace pnsync {

struct FilesystemSpace {
  std::int64_t available = 0;  // bytes an unprivileged writer may still use (f_bavail)
  std::int64_t size = 0;       // bytes in the filesystem
};

// statvfs of `path`; nullopt when it cannot be read (the caller then does not check).
std::optional<FilesystemSpace> filesystem_space(const std::filesystem::path& path);

// Headroom left free on purpose: metadata, the database, other users of the disk. 1% of the
// filesystem, at most 1 GiB.
std::int64_t space_reserve(const FilesystemSpace& space);

// Why `remaining` bytes do not fit, or nullopt when they do.
std::optional<std::string> shortage(std::int64_t remaining, const FilesystemSpace& space);

}  // namespace pnsync
