// SPDX-License-Identifier: MIT
#include "daemon/control/socket_file.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "daemon/disk/local_tree.hpp"  // UniqueFd

namespace pnsync {
namespace {

Error socket_error(std::string message) {
  return Error{ErrorKind::LocalStorage, std::move(message), 0};
}

// Whether a process accepts connections on the socket at `path`: 0 when one does, otherwise the
// errno of connect() (ECONNREFUSED: nobody listens, the file is stale).
int probe(const std::filesystem::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0)
    return 0;
  // Non-blocking, so a listener with a full backlog answers EAGAIN instead of stalling start-up;
  // it is alive all the same.
  return errno == EAGAIN ? 0 : errno;
}

}  // namespace

Result<void> clear_stale_socket(const std::filesystem::path& path) {
  const std::filesystem::path directory = path.parent_path();
  struct stat info {};
  if (::stat(directory.c_str(), &info) != 0) {
    if (errno == ENOENT)
      return socket_error("socket: directory " + directory.string() + " for " + path.string() +
                          " does not exist; create it (systemd: RuntimeDirectory=pnsync)");
    return local_error("socket: cannot reach directory", directory.string(), errno);
  }
  if (!S_ISDIR(info.st_mode))
    return socket_error("socket: " + directory.string() + " is not a directory");

  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return {};
    return local_error("socket: cannot inspect", path.string(), errno);
  }
  if (!S_ISSOCK(info.st_mode))
    return socket_error("socket: " + path.string() +
                        " exists and is not a socket; refusing to replace it");
  const int answer = probe(path);
  if (answer == 0)
    return socket_error("socket: a process already answers on " + path.string() +
                        " (another pnsyncd?); refusing to take it over");
  if (answer != ECONNREFUSED) return local_error("socket: cannot probe", path.string(), answer);
  if (::unlink(path.c_str()) != 0)
    return local_error("socket: cannot remove the stale socket", path.string(), errno);
  return {};
}

Result<SocketFile> SocketFile::claim(const std::filesystem::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0)
    return local_error("socket: cannot inspect", path.string(), errno);
  return SocketFile(path, info.st_dev, info.st_ino);
}

SocketFile::SocketFile(SocketFile&& other) noexcept
    : path_(std::exchange(other.path_, {})), device_(other.device_), inode_(other.inode_) {}

SocketFile& SocketFile::operator=(SocketFile&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
    device_ = other.device_;
    inode_ = other.inode_;
  }
  return *this;
}

void SocketFile::remove() {
  if (path_.empty()) return;
  struct stat info {};
  if (::lstat(path_.c_str(), &info) == 0 && info.st_dev == device_ && info.st_ino == inode_)
    ::unlink(path_.c_str());
  path_.clear();
}

}  // namespace pnsync
