// SPDX-License-Identifier: MIT
// One pnsyncd per state directory: an flock on state_dir/pnsyncd.lock, held for the process
// lifetime and released by the kernel even after kill -9.
#pragma once

#include <filesystem>

#include "common/result.hpp"
#include "daemon/disk/local_tree.hpp"

namespace pnsync {

class StateLock {
public:
  // Creates state_dir (mode 0700) if missing. Fails when another process holds the lock.
  static Result<StateLock> acquire(const std::filesystem::path& state_dir);

private:
  explicit StateLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace pnsync
