// SPDX-License-Identifier: MIT
// The control socket's entry in the file system: clearing a stale one before bind, and removing
// ours (only ours) at shutdown.
#pragma once

#include <sys/types.h>

#include <filesystem>

#include "common/result.hpp"

namespace pnsync {

// Makes way for bind() at `path`: fine when nothing is there; a socket nobody answers on (left
// by a crash) is removed; refused when a process answers on it (another pnsyncd), when the path
// is something other than a socket, or when its directory does not exist. Messages name the path.
Result<void> clear_stale_socket(const std::filesystem::path& path);

// Unlinks the socket file on destruction, but only while the path still names the inode this
// daemon bound: a socket that a newer pnsyncd put there since is left alone.
class SocketFile {
public:
  SocketFile() = default;
  static Result<SocketFile> claim(const std::filesystem::path& path);  // after bind()
  ~SocketFile() { remove(); }
  SocketFile(SocketFile&& other) noexcept;
  SocketFile& operator=(SocketFile&& other) noexcept;
  SocketFile(const SocketFile&) = delete;
  SocketFile& operator=(const SocketFile&) = delete;
  void remove();

private:
  SocketFile(std::filesystem::path path, dev_t device, ino_t inode)
      : path_(std::move(path)), device_(device), inode_(inode) {}
  std::filesystem::path path_;  // empty: nothing to remove
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

}  // namespace pnsync
