// SPDX-License-Identifier: MIT
#include "daemon/disk/state_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace pnsync {

Result<StateLock> StateLock::acquire(const std::filesystem::path& state_dir) {
  std::error_code ec;
  if (std::filesystem::create_directories(state_dir, ec))
    std::filesystem::permissions(state_dir, std::filesystem::perms::owner_all, ec);
  if (ec) return local_error("cannot create state_dir", state_dir.string(), ec.value());
  const auto lock_file = state_dir / "pnsyncd.lock";
  UniqueFd fd(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return local_error("cannot open", lock_file.string(), errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      char pid[32] = {};
      const ssize_t got = ::pread(fd.get(), pid, sizeof pid - 1, 0);
      std::string holder = got > 0 ? std::string(pid, static_cast<size_t>(got)) : "unknown";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return Error{
          ErrorKind::LocalStorage,
          "state_dir " + state_dir.string() + " is in use by another pnsyncd (pid " + holder + ")",
          EWOULDBLOCK};
    }
    return local_error("cannot lock", lock_file.string(), errno);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // The pid is for a person reading the file; the flock is the lock, so a failed write is
  // harmless. (A (void) cast does not silence warn_unused_result, which _FORTIFY_SOURCE adds.)
  if (::ftruncate(fd.get(), 0) == 0) {
    const ssize_t written = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
    static_cast<void>(written);
  }
  return StateLock(std::move(fd));
}

}  // namespace pnsync
