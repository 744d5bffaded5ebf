// SPDX-License-Identifier: MIT
#include "daemon/disk/local_tree.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "daemon/disk/sha256.hpp"

namespace pnsync {

Error local_error(const std::string& what, const std::string& path, int errno_value) {
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

Result<std::optional<gid_t>> resolve_group(const std::optional<std::string>& group) {
  if (!group) return std::optional<gid_t>{};
  struct group entry {};
  struct group* found = nullptr;
  std::vector<char> buffer(16384);
  int error = 0;
  while ((error = ::getgrnam_r(group->c_str(), &entry, buffer.data(), buffer.size(), &found)) ==
         ERANGE)
    buffer.resize(buffer.size() * 2);
  if (error != 0)
    return Error{ErrorKind::LocalStorage,
                 "group: cannot look up \"" + *group + "\": " + std::strerror(error), error};
  if (!found)
    return Error{ErrorKind::LocalStorage, "group: \"" + *group + "\" does not exist", ENOENT};
  return std::optional<gid_t>(found->gr_gid);
}

// Group first, then mode: changing the group may clear the setgid bit.
int apply_owner_and_mode(int fd, std::optional<gid_t> gid, mode_t mode) {
  if (gid && ::fchown(fd, static_cast<uid_t>(-1), *gid) != 0) return -1;
  return ::fchmod(fd, mode);
}

}  // namespace

TreeSettings tree_settings(const config::Config& config) {
  return {static_cast<mode_t>(config.file_mode), static_cast<mode_t>(config.dir_mode),
          config.group};
}

std::string_view parent_name(std::string_view rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash + 1);
}

void DirtyDirs::add(const std::string& name, UniqueFd dir) {
  if (!contains(name)) dirs_.emplace_back(name, std::move(dir));
}

bool DirtyDirs::contains(const std::string& name) const {
  return std::any_of(dirs_.begin(), dirs_.end(),
                     [&name](const auto& entry) { return entry.first == name; });
}

int DirtyDirs::find(const std::string& name) const {
  for (const auto& [dir_name, fd] : dirs_)
    if (dir_name == name) return fd.get();
  return -1;
}

LocalTree::LocalTree(std::filesystem::path root, UniqueFd root_fd, UniqueFd partial_fd,
                     TreeSettings settings, std::optional<gid_t> gid)
    : root_(std::move(root)),
      root_fd_(std::move(root_fd)),
      partial_fd_(std::move(partial_fd)),
      settings_(std::move(settings)),
      gid_(gid) {}

UniqueFd LocalTree::open_or_make_dir(int parent, const std::string& name, bool create,
                                     bool& created) const {
  // A symlink in the directory's place fails with ELOOP or ENOTDIR: never followed.
  created = false;
  UniqueFd fd(::openat(parent, name.c_str(), kDirFlags));
  if (fd || errno != ENOENT || !create) return fd;
  if (::mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) return fd;
  created = errno != EEXIST;
  fd = UniqueFd(::openat(parent, name.c_str(), kDirFlags));
  // mkdir's mode is filtered by the umask; set the intended one explicitly.
  if (fd && apply_owner_and_mode(fd.get(), gid_, settings_.dir_mode) != 0) return UniqueFd();
  return fd;
}

Result<LocalTree> LocalTree::open(const std::filesystem::path& dest, const TreeSettings& settings) {
  auto gid = resolve_group(settings.group);
  if (!gid) return gid.error();
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
    UniqueFd fd(::open(created->c_str(), kDirFlags));
    if (!fd || apply_owner_and_mode(fd.get(), *gid, settings.dir_mode) != 0)
      return local_error("cannot set group and mode of", created->string(), errno);
  }
  UniqueFd root_fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return local_error("cannot open", dest.string(), errno);
  LocalTree tree(dest, std::move(root_fd), UniqueFd(), settings, *gid);
  // The partial directory is private to pnsync (0700), whatever dir_mode says.
  bool created = false;
  tree.partial_fd_ =
      tree.open_or_make_dir(tree.root_fd_.get(), std::string(kPartialDirName), true, created);
  if (!tree.partial_fd_ || (created && ::fchmod(tree.partial_fd_.get(), 0700) != 0))
    return local_error("cannot open", (dest / kPartialDirName).string(), errno);
  return tree;
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

Result<UniqueFd> LocalTree::open_parent(std::string_view rel, bool create, std::string& leaf,
                                        DirtyDirs* dirty) const {
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
    const std::string above = walked;
    walked += part + "/";
    bool created = false;
    UniqueFd next = open_or_make_dir(current.get(), part, create, created);
    if (!next) return local_error("cannot open directory", describe(walked), errno);
    // A new directory's own entry lives in its parent: that parent must be synced too.
    if (created && dirty) dirty->add(above, std::move(current));
    current = std::move(next);
  }
  return current;
}

Result<void> LocalTree::seal(std::string_view rel, int partial_fd,
                             std::optional<std::int64_t> mtime) const {
  if (apply_owner_and_mode(partial_fd, gid_, settings_.file_mode) != 0)
    return local_error("cannot set group and mode of", describe(rel), errno);
  if (mtime) {
    const struct timespec times[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(*mtime), 0}};
    if (::futimens(partial_fd, times) != 0)
      return local_error("cannot set mtime of", describe(rel), errno);
  }
  if (::fsync(partial_fd) != 0) return local_error("cannot sync", describe(rel), errno);
  return {};
}

Result<void> LocalTree::place(std::string_view rel, int partial_fd, DirtyDirs& dirty) const {
  struct stat sealed {};
  struct stat named {};
  const std::string name = partial_name(rel);
  if (::fstat(partial_fd, &sealed) != 0) return local_error("cannot stat", describe(rel), errno);
  if (::fstatat(partial_fd_.get(), name.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0)
    return local_error("cannot stat partial file", (root_ / kPartialDirName / name).string(),
                       errno);
  if (sealed.st_dev != named.st_dev || sealed.st_ino != named.st_ino)
    return Error{ErrorKind::LocalStorage,
                 (root_ / kPartialDirName / name).string() +
                     " is no longer the file that was verified (replaced while it was "
                     "published); not renaming it to " +
                     describe(rel),
                 EEXIST};
  const std::string parent(parent_name(rel));
  std::string leaf(rel.substr(parent.size()));
  if (!dirty.contains(parent)) {
    auto opened = open_parent(rel, true, leaf, &dirty);
    if (!opened) return opened.error();
    dirty.add(parent, std::move(*opened));
  }
  if (::renameat(partial_fd_.get(), partial_name(rel).c_str(), dirty.find(parent), leaf.c_str()) !=
      0)
    return local_error("cannot rename partial file to", describe(rel), errno);
  return {};
}

Result<void> LocalTree::sync_dir(const std::string& name, int dir_fd) const {
  if (::fsync(dir_fd) != 0) return local_error("cannot sync directory", describe(name), errno);
  return {};
}

Result<void> LocalTree::publish(std::string_view rel, int partial_fd,
                                std::optional<std::int64_t> mtime) const {
  if (auto sealed = seal(rel, partial_fd, mtime); !sealed) return sealed;
  DirtyDirs dirty;
  if (auto placed = place(rel, partial_fd, dirty); !placed) return placed;
  for (const auto& [name, fd] : dirty.entries())
    if (auto synced = sync_dir(name, fd.get()); !synced) return synced;
  return {};
}

Result<void> LocalTree::write_work_file(std::string_view name, std::string_view content) const {
  const std::string target(name);
  const std::string temporary = target + ".new";
  const std::string where = (root_ / kPartialDirName / target).string();
  UniqueFd fd(::openat(partial_fd_.get(), temporary.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return local_error("cannot create", where, errno);
  for (std::size_t written = 0; written < content.size();) {
    const ssize_t wrote = ::write(fd.get(), content.data() + written, content.size() - written);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) return local_error("cannot write", where, errno);
    written += static_cast<std::size_t>(wrote);
  }
  if (::fsync(fd.get()) != 0) return local_error("cannot sync", where, errno);
  if (::renameat(partial_fd_.get(), temporary.c_str(), partial_fd_.get(), target.c_str()) != 0)
    return local_error("cannot rename to", where, errno);
  if (::fsync(partial_fd_.get()) != 0)
    return local_error("cannot sync directory", (root_ / kPartialDirName).string(), errno);
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

bool LocalTree::is_closed(const struct stat& info, bool directory) const {
  const mode_t mode = directory ? settings_.dir_mode : settings_.file_mode;
  return (info.st_mode & 07777) == mode && (!gid_ || info.st_gid == *gid_);
}

Result<LocalTree::Closed> LocalTree::close_adopted(std::string_view rel, int file_fd) const {
  Closed closed;
  const auto close_one = [&](int fd, bool directory, const std::string& name) -> Result<void> {
    struct stat info {};
    if (::fstat(fd, &info) != 0) return local_error("cannot stat", name, errno);
    if (is_closed(info, directory)) return {};
    if (apply_owner_and_mode(fd, gid_, directory ? settings_.dir_mode : settings_.file_mode) != 0)
      return local_error("cannot set group and mode of", name, errno);
    ++closed.entries;
    if ((info.st_mode & S_IROTH) != 0) ++closed.world_readable;
    return {};
  };
  UniqueFd current(::fcntl(root_fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!current) return local_error("cannot open", root_.string(), errno);
  std::string walked;
  for (std::size_t start = 0, slash; (slash = rel.find('/', start)) != std::string_view::npos;
       start = slash + 1) {
    const std::string part(rel.substr(start, slash - start));
    walked += part + "/";
    UniqueFd next(::openat(current.get(), part.c_str(), kDirFlags));
    if (!next) return local_error("cannot open directory", describe(walked), errno);
    if (auto done = close_one(next.get(), true, describe(walked)); !done) return done.error();
    current = std::move(next);
  }
  if (auto done = close_one(file_fd, false, describe(rel)); !done) return done.error();
  return closed;
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
