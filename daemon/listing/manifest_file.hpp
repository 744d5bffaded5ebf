// SPDX-License-Identifier: MIT
// SHA256SUMS.txt on disk. A project's manifest can be large (MIMIC-CXR-JPG's is 52 MB), so it is
// never held whole in memory: ManifestDownload writes each body chunk to the manifest's partial
// file as it arrives, hashing and counting on the way (the file is published as the mirror's own
// SHA256SUMS.txt), and read_manifest_file feeds that file to a ManifestParser in bounded chunks,
// as often as the pass needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/disk/sha256.hpp"
#include "daemon/listing/manifest.hpp"

namespace pnsync {

inline constexpr std::string_view kManifestName = "SHA256SUMS.txt";
// What read_manifest_file reads at a time: memory for the parse does not follow the manifest.
inline constexpr std::size_t kManifestReadChunk = std::size_t{256} << 10;

class ManifestDownload {
public:
  // Opens the manifest's partial file in `tree` and empties it (an earlier attempt may have
  // left part of a body there).
  static Result<ManifestDownload> start(const LocalTree& tree, std::int64_t limit);

  // Appends one body chunk. False stops the download: the body passed the limit (too_large())
  // or the write failed (error()).
  bool append(std::string_view chunk);

  std::int64_t size() const { return size_; }
  bool too_large() const { return too_large_; }
  const std::optional<Error>& error() const { return error_; }
  int fd() const { return file_.get(); }
  // The open partial file; the download can take no more bytes after this.
  UniqueFd release_file() { return std::move(file_); }
  // Lowercase hex SHA-256 of every byte appended; call once, at the end.
  std::string sha256_hex() { return hasher_.finish_hex(); }

private:
  ManifestDownload(UniqueFd file, std::string name, std::int64_t limit)
      : file_(std::move(file)), name_(std::move(name)), limit_(limit) {}

  UniqueFd file_;
  std::string name_;  // the partial file, for messages
  std::int64_t limit_;
  std::int64_t size_ = 0;
  Sha256 hasher_;
  bool too_large_ = false;
  std::optional<Error> error_;
};

// SHA256SUMS.txt as an earlier pass published it in `tree`, opened for reading, if it is still a
// regular file of the `size` bytes the store recorded. The error names the file and says what
// differs (ErrorKind::Integrity) or why it could not be opened. Its SHA-256 is for the caller to
// check, off the event loop (MirrorJob::adopt_unchanged_manifest, on the hash worker).
Result<UniqueFd> open_published_manifest(const LocalTree& tree, std::int64_t size);

// Feeds the file behind `fd`, from its first byte to its end, to `parser` in pieces of
// kManifestReadChunk bytes (pread: the file offset is left alone), then finishes the parser.
// `name` is for the error message.
Result<void> read_manifest_file(int fd, ManifestParser& parser, const std::string& name);

}  // namespace pnsync
