// SPDX-License-Identifier: MIT
#include "daemon/job/known_files.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/text.hpp"

namespace pnsync {

namespace {

// Each missing file is named up to a point; a refetch into an empty dest would otherwise log
// every file of the mirror.
constexpr std::size_t kNamedMissing = 20;

// A mirror found in dest is held to file_mode/dir_mode on every pass, not only when adopted: a
// file someone opened up later, or a mode setting tightened since, is closed without a fetch.
// Paths come in order, so only the directories a file does not share with the one before it are
// new; each directory is looked at once.
class ModeCloser {
public:
  ModeCloser(const LocalTree& tree, Log& log) : tree_(tree), log_(log) {}

  void found(const std::string& path, const struct stat& info) {
    if (is_open(path, info)) close(path);
    previous_path_ = path;
  }
  const LocalTree::Closed& closed() const { return closed_; }

private:
  bool is_open(const std::string& path, const struct stat& info) const {
    if (!tree_.is_closed(info, false)) return true;
    std::size_t shared = 0;
    while (shared < path.size() && shared < previous_path_.size() &&
           path[shared] == previous_path_[shared])
      ++shared;
    shared = path.rfind('/', shared == 0 ? 0 : shared - 1);
    shared = shared == std::string::npos ? 0 : shared + 1;
    for (std::size_t slash = path.find('/', shared); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      auto dir = tree_.stat_final(std::string_view(path).substr(0, slash));
      if (dir && dir->has_value() && !tree_.is_closed(**dir, true)) return true;
    }
    return false;
  }
  void close(const std::string& path) {
    auto fd = tree_.open_final(path);
    if (!fd) {
      log_.warning(fd.error().message);
      return;
    }
    auto closed = tree_.close_adopted(path, fd->get());
    if (!closed) {
      log_.warning(closed.error().message);
      return;
    }
    closed_.entries += closed->entries;
    closed_.world_readable += closed->world_readable;
  }

  const LocalTree& tree_;
  Log& log_;
  std::string previous_path_;
  LocalTree::Closed closed_{};
};

}  // namespace

LocalTree::Closed plan_known_files_of(
    const KnownFilesContext& context,
    const std::function<void(const store::FileRecord&)>& enqueue) {
  // Verified files are trusted without the network, but not without a look at the disk (verify
  // at rest, when asked, reads them all).
  // Streamed: a second pass over MIMIC-CXR's 600,000 files held every record at once. The missing
  // ones (their ids, 8 bytes each) are requeued once the scan is over: it may not write while it
  // steps.
  ModeCloser closer(context.tree, context.log);
  std::vector<store::FileId> missing;
  context.store.scan_verified_files(context.mirror, [&](const store::FileRecord& file) {
    auto on_disk = context.tree.stat_final(file.path);
    const bool intact = on_disk && on_disk->has_value() && S_ISREG((*on_disk)->st_mode) &&
                        (!file.size || (*on_disk)->st_size == *file.size);
    if (intact) closer.found(file.path, **on_disk);
    if (intact || context.verify_at_rest) return true;
    if (missing.size() < kNamedMissing)
      context.log.warning((context.dest / file.path).string() +
                          ": verified earlier but missing or changed on disk; fetching it again");
    missing.push_back(file.id);
    return true;
  });
  for (const store::FileId id : missing) context.store.requeue(id);
  if (missing.size() > kNamedMissing)
    context.log.warning(context.mirror_name + ": " +
                        group_digits(static_cast<std::int64_t>(missing.size())) +
                        " verified files are missing or changed under " + context.dest.string() +
                        "; fetching them again");
  for (auto& file : context.store.unfinished_files(context.mirror)) {
    if (file.state == store::FileState::Failed) {
      if (!file.expected_sha256 && context.relisting) continue;
      context.store.requeue(file.id);  // a new pass gives failed files a fresh start
      file.attempts = 0;
      file.checksum_mismatches = 0;
    }
    enqueue(file);
  }
  return closer.closed();
}

}  // namespace pnsync
