// SPDX-License-Identifier: MIT
// The crawl of a mirror pass: the HTML listing of every directory the manifest does not cover and
// the selection may find something in, recorded in the store as it goes.
//
// A crawl resumes where the last one stopped (the store keeps the directories still to list) and
// is skipped while the last complete one is younger than relist_after. Each listing records the
// files and subdirectories it shows, forgets the unfinished files it no longer shows, marks the
// files the selection does not want, and lists its subdirectories in turn. A failure goes to the
// pass (PassControl), which retries or stops; a directory that could not be listed counts as a
// failure of the crawl, which is then not recorded as complete.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "daemon/job/pass_control.hpp"
#include "daemon/plan/selection.hpp"
#include "store/store.hpp"

namespace pnsync {

// What the crawl works with; the pass owns all of it and outlives the crawl.
struct CrawlContext {
  Log& log;
  store::Store& store;
  store::MirrorId mirror = 0;
  std::string base_url;     // of the version's root, ending in '/'
  std::string mirror_name;  // for messages
  std::chrono::seconds relist_after{0};
  std::size_t listing_limit = 0;  // the largest listing read (decompressed)
  const Selection& selection;
  // Directories the manifest covers ("a/b/"): neither listed nor fetched as a file.
  const std::set<std::string>& manifest_dirs;
  // Whether the pass keeps a listed file (the selection, and the manifest whatever it says).
  std::function<bool(std::string_view path)> wanted;
};

// What the crawl tells the pass, each on the loop inside a guarded step.
struct CrawlEvents {
  // A wanted file was listed and its row updated (it may be verified already).
  std::function<void(const std::string& path)> file_listed;
  // A file is no longer listed upstream; its row goes right after this returns.
  std::function<void(const std::string& path)> file_gone;
  // A listing was recorded (the mirror's counts changed).
  std::function<void()> listing_recorded;
  // No listing is left in flight: the crawl is done(), for now (list() may start it again).
  std::function<void()> finished;
};

class CrawlStep {
public:
  CrawlStep(CrawlContext context, PassControl& pass, CrawlEvents events);
  ~CrawlStep() = default;
  CrawlStep(const CrawlStep&) = delete;
  CrawlStep& operator=(const CrawlStep&) = delete;
  CrawlStep(CrawlStep&&) = delete;
  CrawlStep& operator=(CrawlStep&&) = delete;

  // No complete listing younger than relist_after.
  bool due();
  // Lists what is left to list, or nothing if the crawl is not due. `manifest_in_dest`: the
  // manifest step owns SHA256SUMS.txt's row (its mtime is the exact Last-Modified; the listing's
  // dates have only minutes), so the root listing leaves it alone.
  void start(bool manifest_in_dest);
  // Lists `dir` ("a/b/") too: a name the pass took for a file turned out to be a directory.
  void list(const std::string& dir);

  bool done() const { return started_ && in_flight_ == 0; }
  std::size_t in_flight() const { return in_flight_; }
  // Directories that could not be listed.
  std::size_t failures() const { return failures_; }

private:
  // A listing kept in memory up to listing_limit bytes after decompression.
  struct TextBody {
    std::string text;
    bool over_limit = false;  // the answer was cut off at the limit
  };
  void request(const std::string& dir, RequestAttempt attempt);
  void on_listing(const std::string& dir, const HttpOutcome& outcome, const TextBody& body,
                  RequestAttempt attempt);
  void record(const std::string& dir, const std::string& url, const std::string& html);
  void forget_unlisted(const std::string& dir, const std::vector<store::DiscoveredFile>& listed);
  void listing_ended(bool ok);

  CrawlContext context_;
  PassControl& pass_;
  CrawlEvents events_;
  bool started_ = false;
  bool manifest_in_dest_ = false;
  std::size_t in_flight_ = 0;
  std::size_t failures_ = 0;
};

}  // namespace pnsync
