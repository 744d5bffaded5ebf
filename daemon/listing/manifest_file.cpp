// SPDX-License-Identifier: MIT
#include "daemon/listing/manifest_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "daemon/transfer/transfer_io.hpp"

namespace pnsync {

Result<ManifestDownload> ManifestDownload::start(const LocalTree& tree, std::int64_t limit) {
  auto file = tree.open_partial(kManifestName);
  if (!file) return file.error();
  const std::string name =
      (tree.root() / kPartialDirName / tree.partial_name(kManifestName)).string();
  if (::ftruncate(file->get(), 0) != 0) return local_error("cannot empty", name, errno);
  return ManifestDownload(std::move(*file), name, limit);
}

bool ManifestDownload::append(std::string_view chunk) {
  if (error_ || too_large_ || !file_) return false;
  if (size_ + static_cast<std::int64_t>(chunk.size()) > limit_) {
    too_large_ = true;
    return false;
  }
  // At the end of the file: a partial write (EINTR, or a full disk) continues where it stopped.
  if (auto wrote = write_all(file_.get(), chunk, name_); !wrote) {
    error_ = wrote.error();
    return false;
  }
  hasher_.update(chunk);
  size_ += static_cast<std::int64_t>(chunk.size());
  return true;
}

Result<UniqueFd> open_published_manifest(const LocalTree& tree, std::int64_t size) {
  const std::string name = (tree.root() / kManifestName).string();
  auto file = tree.open_final(kManifestName);
  if (!file) return file.error();
  struct stat info {};
  if (::fstat(file->get(), &info) != 0) return local_error("cannot stat", name, errno);
  if (!S_ISREG(info.st_mode)) return Error{ErrorKind::Integrity, name + ": not a regular file"};
  if (info.st_size != size) {
    return Error{ErrorKind::Integrity, name + ": " + std::to_string(info.st_size) +
                                           " bytes, not the " + std::to_string(size) + " recorded"};
  }
  return std::move(*file);
}

Result<void> read_manifest_file(int fd, ManifestParser& parser, const std::string& name) {
  const auto buffer = std::make_unique_for_overwrite<char[]>(kManifestReadChunk);
  off_t offset = 0;
  while (true) {
    const ssize_t got = ::pread(fd, buffer.get(), kManifestReadChunk, offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return local_error("cannot read", name, errno);
    }
    if (got == 0) break;
    parser.feed(std::string_view(buffer.get(), static_cast<std::size_t>(got)));
    offset += got;
  }
  parser.finish();
  return {};
}

}  // namespace pnsync
