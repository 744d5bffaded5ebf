// SPDX-License-Identifier: MIT
// What a pass does first with the files the store already knows, before any request: each
// verified file is looked at on disk (a missing or changed one is fetched again; one others may
// read is closed to file_mode/dir_mode), and every unfinished file is queued.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "common/log.hpp"
#include "daemon/disk/local_tree.hpp"
#include "store/store.hpp"

namespace pnsync {

struct KnownFilesContext {
  Log& log;
  store::Store& store;
  store::MirrorId mirror = 0;
  const LocalTree& tree;
  std::string mirror_name;  // for messages
  std::filesystem::path dest;
  // Verify at rest reads every verified file itself: one missing here is left to it.
  bool verify_at_rest = false;
  // The crawl lists again this pass: a failed file only a listing knows of waits for it, since
  // the new listing may show it gone.
  bool relisting = false;
};

// Requeues the verified files missing or changed on disk, gives failed files a fresh start, and
// hands every unfinished file to `enqueue`. Returns what closing the modes of files found in
// dest changed.
LocalTree::Closed plan_known_files_of(const KnownFilesContext& context,
                                      const std::function<void(const store::FileRecord&)>& enqueue);

}  // namespace pnsync
