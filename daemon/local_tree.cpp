// SPDX-License-Identifier: MIT
#include "daemon/local_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "daemon/sha256.hpp"

namespace pnsync {

Error local_error(std::string what, const std::string& path, int errno_value) {
  return Error{ErrorKind::LocalStorage, what + " " + path + ": " + std::strerror(errno_value),
               errno_value};
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// Opens `name` under `parent` as a directory, creating it with `mode` when missing. A symlink in
// its place fails with ELOOP or ENOTDIR: never followed.
int open_or_make_dir(int parent, const std::string& name, mode_t mode, bool create) {
  int fd = ::openat(parent, name.c_str(), kDirFlags);
  if (fd >= 0 || errno != ENOENT || !create) return fd;
  if (::mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) return -1;
  fd = ::openat(parent, name.c_str(), kDirFlags);
  // mkdir's mode is filtered by the umask; set the intended one explicitly.
  if (fd >= 0) ::fchmod(fd, mode);
  return fd;
}

}  // namespace

LocalTree::LocalTree(std::filesystem::path root, UniqueFd root_fd, UniqueFd partial_fd,
                     TreeModes modes)
    : root_(std::move(root)),
      root_fd_(std::move(root_fd)),
      partial_fd_(std::move(partial_fd)),
      modes_(modes) {}

Result<LocalTree> LocalTree::open(const std::filesystem::path& dest, TreeModes modes) {
  // Directories pnsync creates get the closed mode, dest and its missing parents included; an
  // existing dest keeps whatever its owner chose.
  std::vector<std::filesystem::path> missing;
  for (auto dir = dest; !dir.empty() && !std::filesystem::exists(dir); dir = dir.parent_path()) {
    missing.push_back(dir);
    if (dir == dir.parent_path()) break;
  }
  for (auto created = missing.rbegin(); created != missing.rend(); ++created) {
    if (::mkdir(created->c_str(), 0700) != 0 && errno != EEXIST)
      return local_error("cannot create", created->string(), errno);
    ::chmod(created->c_str(), modes.dir_mode);
  }
  UniqueFd root_fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return local_error("cannot open", dest.string(), errno);
  UniqueFd partial_fd(open_or_make_dir(root_fd.get(), std::string(kPartialDirName), 0700, true));
  if (!partial_fd) return local_error("cannot open", (dest / kPartialDirName).string(), errno);
  return LocalTree(dest, std::move(root_fd), std::move(partial_fd), modes);
}

std::string LocalTree::describe(std::string_view rel) const {
  return (root_ / rel).string();
}

std::string LocalTree::partial_name(std::string_view rel) const {
  // Flat and fixed-length: no directories to create or clean up under the partial folder, and no
  // server-chosen name ever used as a file name there.
  Sha256 hasher;
  hasher.update(rel);
  return hasher.finish_hex().substr(0, 40) + ".part";
}

Result<UniqueFd> LocalTree::open_partial(std::string_view rel) const {
  const std::string name = partial_name(rel);
  UniqueFd fd(
      ::openat(partial_fd_.get(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd)
    return local_error("cannot open partial file", (root_ / kPartialDirName / name).string(),
                       errno);
  return fd;
}

void LocalTree::remove_partial(std::string_view rel) const {
  ::unlinkat(partial_fd_.get(), partial_name(rel).c_str(), 0);
}

Result<UniqueFd> LocalTree::open_parent(std::string_view rel, bool create,
                                        std::string& leaf) const {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = rel.find('/', start);
    parts.emplace_back(rel.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  leaf = parts.back();
  parts.pop_back();
  UniqueFd current(::fcntl(root_fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!current) return local_error("cannot open", root_.string(), errno);
  std::string walked;
  for (const auto& part : parts) {
    walked += part + "/";
    UniqueFd next(open_or_make_dir(current.get(), part, modes_.dir_mode, create));
    if (!next) return local_error("cannot open directory", describe(walked), errno);
    current = std::move(next);
  }
  return current;
}

Result<void> LocalTree::publish(std::string_view rel, int partial_fd,
                                std::optional<std::int64_t> mtime) const {
  if (::fchmod(partial_fd, modes_.file_mode) != 0)
    return local_error("cannot set mode of", describe(rel), errno);
  if (mtime) {
    const struct timespec times[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(*mtime), 0}};
    if (::futimens(partial_fd, times) != 0)
      return local_error("cannot set mtime of", describe(rel), errno);
  }
  if (::fsync(partial_fd) != 0) return local_error("cannot sync", describe(rel), errno);
  std::string leaf;
  auto parent = open_parent(rel, true, leaf);
  if (!parent) return parent.error();
  if (::renameat(partial_fd_.get(), partial_name(rel).c_str(), parent->get(), leaf.c_str()) != 0)
    return local_error("cannot rename partial file to", describe(rel), errno);
  if (::fsync(parent->get()) != 0)
    return local_error("cannot sync directory of", describe(rel), errno);
  return {};
}

Result<std::optional<struct stat>> LocalTree::stat_final(std::string_view rel) const {
  std::string leaf;
  auto parent = open_parent(rel, false, leaf);
  if (!parent) {
    if (parent.error().errno_value == ENOENT) return std::optional<struct stat>{};
    return parent.error();
  }
  struct stat info {};
  if (::fstatat(parent->get(), leaf.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::optional<struct stat>{};
    return local_error("cannot stat", describe(rel), errno);
  }
  return std::optional<struct stat>(info);
}

Result<UniqueFd> LocalTree::open_final(std::string_view rel) const {
  std::string leaf;
  auto parent = open_parent(rel, false, leaf);
  if (!parent) return parent.error();
  UniqueFd fd(::openat(parent->get(), leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return local_error("cannot open", describe(rel), errno);
  return fd;
}

Result<void> LocalTree::remove_final(std::string_view rel) const {
  std::string leaf;
  auto parent = open_parent(rel, false, leaf);
  if (!parent) {
    if (parent.error().errno_value == ENOENT) return {};
    return parent.error();
  }
  // unlinkat never follows a symlink in the last component: a planted link is removed, not its
  // target.
  if (::unlinkat(parent->get(), leaf.c_str(), 0) != 0 && errno != ENOENT)
    return local_error("cannot remove", describe(rel), errno);
  return {};
}

}  // namespace pnsync
