// SPDX-License-Identifier: MIT
#include "daemon/job/manifest_read.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "daemon/listing/manifest.hpp"
#include "daemon/listing/manifest_file.hpp"

namespace pnsync {

namespace {

// Manifest entries stored per transaction: one transaction for a 1,000,000-entry manifest
// without a selection would hold its whole journal at once; one per entry would be slow.
constexpr std::size_t kUpsertBatch = 10'000;
// A hostile manifest may hold any number of bad lines: a few are named, the rest counted.
constexpr std::size_t kRefusedLinesLogged = 5;

// Collects the directories the crawl (CrawlStep) must take as covered by the manifest.
//
// The crawl lists a subdirectory D of a directory it has listed unless the covered set holds D,
// and only when selection.may_list(D); a development-server name without its '/' that
// the covered set holds is taken as a directory instead of being fetched as a file. Holding the
// parents of the kept entries alone would not do: may_list is conservative for patterns. With
// `exclude: ["**/*.jpg"]` over MIMIC-CXR-JPG no entry below files/ is kept, yet
// may_list("files/") is true, so files/ would be listed, and below it every study folder the
// manifest covers: 300,000 listings instead of none. So the parents of every valid entry count,
// kept or not, as before selections existed. Of those, only the directories the crawl can meet
// are held: D's parent may be listed (the root always is), and D may be listed itself or, as a
// file name, is selected. Leaving out the others changes nothing: a directory whose parent is
// never listed is never looked at, and one that may_list refuses is never listed whatever
// the covered set says (and, not selected, is not fetched as a file either). With files_from or
// select, that leaves the few parents of the selected paths instead of every directory of a
// million-line manifest; with no selection, every directory, as before.
//
// Kept entries count once their duplicates are settled: a path with two checksums is dropped
// and its directory listed (to find the file and check it by size) unless other entries cover
// it, as before. Conflicts among entries the selection does not want are not tracked; their
// files are not fetched either way.
class CoveredDirs {
public:
  CoveredDirs(const Selection& selection, std::set<std::string>& dirs)
      : selection_(selection), dirs_(dirs) {}

  void add_parents_of(std::string_view path) {
    std::size_t depth = 0;
    for (std::size_t slash = path.find('/'); slash != std::string_view::npos;
         slash = path.find('/', slash + 1), ++depth) {
      const std::string_view dir = path.substr(0, slash + 1);
      if (depth == last_.size()) last_.emplace_back();
      Judged& judged = last_[depth];
      // Consecutive lines of a sorted manifest share their directories: each is judged once.
      // A directory's text names its parents too, so an earlier verdict stays right.
      if (judged.dir != dir) {
        judged.dir.assign(dir);
        judged.listable = selection_.may_list(dir);
        if (judged.listable || selection_.selected(dir.substr(0, dir.size() - 1)))
          dirs_.insert(judged.dir);
      }
      if (!judged.listable) return;  // nothing below it is ever listed
    }
  }

private:
  struct Judged {
    std::string dir;
    bool listable = false;
  };
  const Selection& selection_;
  std::set<std::string>& dirs_;
  std::vector<Judged> last_;  // by depth: the last directory judged there
};

}  // namespace

Result<ManifestRead> read_manifest_into_store(int fd, ManifestScope scope,
                                              const ManifestReadContext& context,
                                              const std::vector<std::string>& tables,
                                              std::set<std::string>& covered_dirs) {
  const bool tables_only = scope == ManifestScope::Tables;
  ManifestEntries kept;
  CoveredDirs covered(context.selection, covered_dirs);
  ManifestRead read;
  // Both reads meet the same lines; the last one reports them.
  const auto report = [&](const std::string& problem) {
    if (tables_only) return;
    if (read.refused++ < kRefusedLinesLogged) context.log.warning(context.url + ": " + problem);
  };
  ManifestParser parser(
      [&](std::size_t line, std::string_view path, std::string_view sha256) {
        ++read.listed;
        const bool keep = tables_only ? std::binary_search(tables.begin(), tables.end(), path)
                                      : context.wanted(path);
        if (keep) {
          if (auto problem = kept.add(line, path, sha256)) report(*problem);
        } else if (!tables_only) {
          covered.add_parents_of(path);
        }
      },
      report);
  if (auto done = read_manifest_file(fd, parser, context.file_name); !done) return done.error();

  std::vector<ManifestEntry> entries = kept.take();
  read.kept = entries.size();
  std::vector<store::DiscoveredFile> batch;
  batch.reserve(std::min(entries.size(), kUpsertBatch));
  for (auto& entry : entries) {
    if (!tables_only) covered.add_parents_of(entry.path);
    batch.push_back({std::move(entry.path), std::nullopt, std::move(entry.sha256), std::nullopt});
    if (batch.size() == kUpsertBatch) {
      context.store.upsert_files(context.mirror, batch);
      batch.clear();
    }
  }
  context.store.upsert_files(context.mirror, batch);
  return read;
}

}  // namespace pnsync
