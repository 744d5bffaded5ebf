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
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "daemon/disk/safe_path.hpp"

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

// Who may read what pnsync creates. Credentialed data stays closed by default: files 0640,
// directories 02750 (setgid keeps the group for files created later). Modes and group are applied
// explicitly to every file and directory pnsync creates, so the daemon's umask does not matter.
struct TreeSettings {
  mode_t file_mode = 0640;
  mode_t dir_mode = 02750;
  std::optional<std::string> group;  // a group name; none: the group the kernel gives
};

// The `file_mode`, `dir_mode` and `group` settings of a configuration.
TreeSettings tree_settings(const config::Config& config);

inline constexpr std::string_view kPartialDirName = kWorkAreaName;

// Directories whose entries changed (a file renamed into them, a directory created in them) and
// that must be fsynced before the change may be counted as durable. Keyed by their path relative to
// dest ("" for dest, otherwise ending in '/'), so that the files of one batch share one fsync per
// directory; the descriptors stay open until then and double as a cache for later renames into the
// same directory. Not thread-safe: one owner at a time (the publisher's commit thread).
class DirtyDirs {
public:
  // Keeps the first descriptor given for `name`; later ones are closed.
  void add(const std::string& name, UniqueFd dir);
  bool contains(const std::string& name) const;
  // The descriptor kept for `name`, or -1.
  int find(const std::string& name) const;
  bool empty() const { return dirs_.empty(); }
  std::size_t size() const { return dirs_.size(); }
  // Directory names in the order they were first added.
  const std::vector<std::pair<std::string, UniqueFd>>& entries() const { return dirs_; }
  void clear() { dirs_.clear(); }

private:
  std::vector<std::pair<std::string, UniqueFd>> dirs_;  // a batch touches few directories
};

// The directory part of `rel` as DirtyDirs names it: "a/b/c.txt" -> "a/b/", "c.txt" -> "".
std::string_view parent_name(std::string_view rel);

class LocalTree {
public:
  // Creates dest (and missing parents) if needed and opens it. Fails, naming the group, when
  // `settings.group` does not exist.
  static Result<LocalTree> open(const std::filesystem::path& dest,
                                const TreeSettings& settings = {});

  const std::filesystem::path& root() const { return root_; }

  // The partial file for `rel`, created empty (mode 0600) if absent.
  Result<UniqueFd> open_partial(std::string_view rel) const;
  void remove_partial(std::string_view rel) const;
  // Removes the file published as `rel` (delete_unselected); a missing file is not an error.
  Result<void> remove_final(std::string_view rel) const;
  std::string partial_name(std::string_view rel) const;  // for messages and tests

  // Publishing is three steps, in this order; daemon/disk/publisher.hpp runs them off the event
  // loop and lets a batch of files share step 3.
  //  1. seal: group, mode and mtime of the partial file, then fsync it. Its bytes and metadata
  //     are durable; its name is not.
  Result<void> seal(std::string_view rel, int partial_fd, std::optional<std::int64_t> mtime) const;
  //  2. place: create the missing parent directories (recording each directory that gets a new
  //     entry in `dirty`) and rename the sealed partial file to `rel`.
  //     `partial_fd` is the file sealed: if the name in the partial folder now holds another
  //     file, nothing is renamed (the bytes published must be the bytes verified).
  Result<void> place(std::string_view rel, int partial_fd, DirtyDirs& dirty) const;
  //  3. sync_dir: fsync one directory of `dirty`. Once every directory a file's placement dirtied
  //     is synced, the file is durable under its final name and may be marked verified.
  Result<void> sync_dir(const std::string& name, int dir_fd) const;
  // All three for one file. On return the file is durable under its final name.
  Result<void> publish(std::string_view rel, int partial_fd,
                       std::optional<std::int64_t> mtime) const;

  // lstat of the final file; nullopt when it does not exist.
  Result<std::optional<struct stat>> stat_final(std::string_view rel) const;
  Result<UniqueFd> open_final(std::string_view rel) const;

  // Replaces the file `name` in the work area with `content`, atomically and durably (a temporary
  // name, fsync, rename, fsync of the work area). For pnsync's own small files (dest_guard.hpp).
  Result<void> write_work_file(std::string_view name, std::string_view content) const;

  // What closing an adopted file changed: entries (the file, its directories below dest) whose
  // mode or group were not file_mode/dir_mode/group, and how many of those others could read.
  struct Closed {
    int entries = 0;
    int world_readable = 0;
  };
  // Brings `file_fd` (the final file `rel`, opened with open_final) and the directories between
  // dest and it to the modes and group of files pnsync publishes. A copy adopted from an earlier
  // `wget -r` (0644 files, 0755 directories) would otherwise stay readable by everyone, which the
  // data use agreement forbids.
  Result<Closed> close_adopted(std::string_view rel, int file_fd) const;
  // Whether `info` (of a file, or of a directory when `directory`) already has the mode and group
  // close_adopted gives: what the pass checks on every file it finds in dest.
  bool is_closed(const struct stat& info, bool directory) const;

private:
  LocalTree(std::filesystem::path root, UniqueFd root_fd, UniqueFd partial_fd,
            TreeSettings settings, std::optional<gid_t> gid);
  // Opens (creating if asked) the directory that holds `rel`; `leaf` receives the last component.
  // Directories that get a new subdirectory are added to `dirty` when it is given.
  Result<UniqueFd> open_parent(std::string_view rel, bool create, std::string& leaf,
                               DirtyDirs* dirty = nullptr) const;
  // Opens `name` under `parent`, creating it (group and mode applied) when missing and asked to.
  UniqueFd open_or_make_dir(int parent, const std::string& name, bool create, bool& created) const;
  std::string describe(std::string_view rel) const;

  std::filesystem::path root_;
  UniqueFd root_fd_;
  UniqueFd partial_fd_;
  TreeSettings settings_;
  std::optional<gid_t> gid_;  // settings_.group, resolved once by open()
};

}  // namespace pnsync
