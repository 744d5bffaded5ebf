// SPDX-License-Identifier: MIT
// The mirror's destination directory. Every path is resolved component by component with openat
// and O_NOFOLLOW from a descriptor of dest, so a symlink planted inside dest can never redirect a
// write elsewhere. Partial files live in dest/.pnsync-partial (same filesystem: the final rename is
// atomic) and appear under their real name only once complete, synced and verified.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/result.hpp"

namespace pnsync {

class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

private:
  int fd_ = -1;
};

// Credentialed data stays closed by default: files 0640, directories 2750 (setgid keeps the group),
// applied explicitly so the daemon's umask does not matter.
struct TreeModes {
  mode_t file_mode = 0640;
  mode_t dir_mode = 02750;
};

inline constexpr std::string_view kPartialDirName = ".pnsync-partial";

class LocalTree {
public:
  // Creates dest (and missing parents) if needed and opens it.
  static Result<LocalTree> open(const std::filesystem::path& dest, TreeModes modes = {});

  const std::filesystem::path& root() const { return root_; }

  // The partial file for `rel`, created empty (mode 0600) if absent.
  Result<UniqueFd> open_partial(std::string_view rel) const;
  void remove_partial(std::string_view rel) const;
  // Removes the file published as `rel` (delete_unselected); a missing file is not an error.
  Result<void> remove_final(std::string_view rel) const;
  std::string partial_name(std::string_view rel) const;  // for messages and tests

  // fsync the partial, set mode and mtime, create parent directories, rename it to `rel`, then
  // fsync the parent directory. On return the file is durable under its final name.
  Result<void> publish(std::string_view rel, int partial_fd,
                       std::optional<std::int64_t> mtime) const;

  // lstat of the final file; nullopt when it does not exist.
  Result<std::optional<struct stat>> stat_final(std::string_view rel) const;
  Result<UniqueFd> open_final(std::string_view rel) const;

private:
  LocalTree(std::filesystem::path root, UniqueFd root_fd, UniqueFd partial_fd, TreeModes modes);
  // Opens (creating if asked) the directory that holds `rel`; `leaf` receives the last component.
  Result<UniqueFd> open_parent(std::string_view rel, bool create, std::string& leaf) const;
  std::string describe(std::string_view rel) const;

  std::filesystem::path root_;
  UniqueFd root_fd_;
  UniqueFd partial_fd_;
  TreeModes modes_;
};

}  // namespace pnsync
