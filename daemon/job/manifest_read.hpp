// SPDX-License-Identifier: MIT
// One read of SHA256SUMS.txt as dest holds it, into the store: the entries a pass keeps are
// upserted in batches, and the directories the manifest covers are collected for the crawl.
//
// A pass with `select:` reads the manifest twice: first for the tables `select` reads (before
// the selection exists), then for the entries the selection wants.
#pragma once

#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "common/result.hpp"
#include "daemon/plan/selection.hpp"
#include "store/store.hpp"

namespace pnsync {

// Which entries a read keeps: the tables `select` reads, or every entry the pass wants.
enum class ManifestScope { Tables, Selection };

struct ManifestReadContext {
  Log& log;
  store::Store& store;
  store::MirrorId mirror = 0;
  std::string url;        // of SHA256SUMS.txt, for the refused lines
  std::string file_name;  // its copy in dest, for a failed read
  const Selection& selection;
  // Whether the pass keeps an entry (the selection, and the manifest whatever it says).
  std::function<bool(std::string_view path)> wanted;
};

struct ManifestRead {
  std::size_t listed = 0;   // entries the manifest holds (valid lines)
  std::size_t kept = 0;     // entries stored
  std::size_t refused = 0;  // lines refused (ManifestScope::Selection only)
};

// Reads the manifest open on `fd` from its start and stores the entries `scope` keeps
// (ManifestScope::Tables: `tables`, sorted). For ManifestScope::Selection, also adds to
// `covered_dirs` the directories the crawl takes as covered ("a/b/") and logs the first
// refused lines. An error names file_name.
Result<ManifestRead> read_manifest_into_store(int fd, ManifestScope scope,
                                              const ManifestReadContext& context,
                                              const std::vector<std::string>& tables,
                                              std::set<std::string>& covered_dirs);

}  // namespace pnsync
