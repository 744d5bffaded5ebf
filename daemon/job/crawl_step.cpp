// SPDX-License-Identifier: MIT
#include "daemon/job/crawl_step.hpp"

#include <memory>
#include <span>
#include <utility>

#include "common/progress.hpp"
#include "common/unix_time.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/disk/safe_path.hpp"
#include "daemon/listing/listing.hpp"
#include "daemon/listing/manifest_file.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/net/http_policy.hpp"

namespace pnsync {

namespace {

// A hostile listing may hold any number of unsafe names: a few are named, the rest are not.
constexpr std::size_t kRejectedNamesLogged = 5;

}  // namespace

CrawlStep::CrawlStep(CrawlContext context, PassControl& pass, CrawlEvents events)
    : context_(std::move(context)), pass_(pass), events_(std::move(events)) {}

bool CrawlStep::due() {
  const auto completed = context_.store.crawl_completed_at(context_.mirror);
  return !completed || unix_now() - *completed >= context_.relist_after.count();
}

void CrawlStep::start(bool manifest_in_dest) {
  manifest_in_dest_ = manifest_in_dest;
  started_ = true;
  if (!due()) {
    context_.log.info(context_.mirror_name + ": listing is recent (relist_after " +
                      std::to_string(context_.relist_after.count()) + "s); not listing again");
    events_.finished();
    return;
  }
  auto pending = context_.store.pending_dirs(context_.mirror);
  // Directories a narrower selection rules out stay pending in the store, unlisted.
  std::erase_if(pending,
                [this](const std::string& dir) { return !context_.selection.may_list(dir); });
  if (pending.empty()) {
    context_.store.reset_crawl(context_.mirror);
    const std::string root;
    context_.store.add_pending_dirs(context_.mirror, std::span(&root, 1));
    pending = context_.store.pending_dirs(context_.mirror);
  } else {
    context_.log.info(context_.mirror_name + ": resuming the listing, " +
                      std::to_string(pending.size()) + " directories still to list");
  }
  for (const auto& dir : pending) list(dir);
}

void CrawlStep::list(const std::string& dir) {
  // Not started_: a listing asked for before start() (a name the tables' fetch found to be a
  // directory) must not let the crawl look done, or complete, before it began.
  ++in_flight_;
  request(dir, {});
}

void CrawlStep::request(const std::string& dir, RequestAttempt attempt) {
  auto body = std::make_shared<TextBody>();
  GetRequest request;
  request.url = context_.base_url + percent_encode_path(dir);
  request.compressed = true;
  request.on_body = [body, limit = context_.listing_limit](const ResponseInfo&,
                                                           std::string_view chunk) {
    if (body->text.size() + chunk.size() > limit) {
      body->over_limit = true;  // decompressed: a small gzip bomb stops here too
      return false;
    }
    body->text.append(chunk);
    return true;
  };
  pass_.send_listing_request(std::move(request),
                             [this, body, dir, attempt](const HttpOutcome& outcome) {
                               on_listing(dir, outcome, *body, attempt);
                             });
}

void CrawlStep::on_listing(const std::string& dir, const HttpOutcome& outcome, const TextBody& body,
                           RequestAttempt attempt) {
  if (!pass_.running()) return;
  if (body.over_limit) {
    // Not retried: the same listing would be as large again. Its files stay as last listed.
    context_.log.error(outcome.url + ": listing larger than " +
                       format_bytes(static_cast<std::int64_t>(context_.listing_limit)) +
                       " (decompressed); refused, this directory is not listed");
    listing_ended(false);
    return;
  }
  const long status = outcome.info.status;
  const Verdict verdict = classify(outcome.curl_code, status, outcome.info.retry_after.has_value());
  const std::string reason = describe_failure(outcome);
  if (pass_.stop_if_refused(status, reason)) return;
  if (verdict == Verdict::Retry || verdict == Verdict::RetryAfter) {
    if (pass_.retry(attempt, outcome, [this, dir](RequestAttempt next) { request(dir, next); }))
      return;
    context_.log.error(reason + " (listing gave up after " + std::to_string(attempt.counted) +
                       " attempts)");
    listing_ended(false);
    return;
  }
  if (verdict == Verdict::NotFound) {
    context_.log.warning(reason + ": directory no longer listed upstream");
    context_.store.record_listing(context_.mirror, dir, {}, {}, unix_now());
    listing_ended(true);
    return;
  }
  if (verdict != Verdict::Success || status != 200) {
    context_.log.error(reason + ": cannot list this directory");
    listing_ended(false);
    return;
  }
  record(dir, outcome.url, body.text);
  listing_ended(true);
}

void CrawlStep::record(const std::string& dir, const std::string& url, const std::string& html) {
  const Listing listing = parse_listing(html);
  for (std::size_t i = 0; i < listing.rejected.size() && i < kRejectedNamesLogged; ++i)
    context_.log.warning(url + ": refused unsafe entry " + listing.rejected[i]);
  const auto& covered = context_.manifest_dirs;
  std::vector<store::DiscoveredFile> files;
  std::vector<std::string> subdirs;
  for (const auto& entry : listing.entries) {
    if (dir.empty() && entry.name == kPartialDirName) continue;
    if (dir.empty() && entry.name == kManifestName && manifest_in_dest_) continue;
    const std::string path = dir + entry.name;
    if (entry.kind == EntryKind::Dir || covered.contains(path + "/")) {
      // A directory that holds manifest entries is covered by the manifest: no need to list it;
      // nor one where the selection can find nothing.
      if (!covered.contains(path + "/") && context_.selection.may_list(path + "/"))
        subdirs.push_back(path + "/");
      continue;
    }
    files.push_back({path, entry.size, std::nullopt, entry.mtime});
  }
  context_.store.record_listing(context_.mirror, dir, files, subdirs, unix_now());
  forget_unlisted(dir, files);
  std::vector<std::string> unselected;
  for (const auto& file : files) {
    if (context_.wanted(file.path)) {
      events_.file_listed(file.path);
    } else {
      unselected.push_back(file.path);
    }
  }
  context_.store.mark_unselected(context_.mirror, unselected);
  for (const auto& subdir : subdirs) list(subdir);
  events_.listing_recorded();
}

void CrawlStep::forget_unlisted(const std::string& dir,
                                const std::vector<store::DiscoveredFile>& listed) {
  std::set<std::string_view> names;
  for (const auto& file : listed) names.insert(file.path);
  for (const auto& gone : context_.store.unfinished_listed_in(context_.mirror, dir)) {
    if (names.contains(gone.path)) continue;
    context_.log.warning(context_.base_url + percent_encode_path(gone.path) +
                         ": no longer listed upstream; forgotten");
    events_.file_gone(gone.path);
    context_.store.forget_file(gone.id);
  }
}

void CrawlStep::listing_ended(bool ok) {
  if (!ok) ++failures_;
  if (in_flight_ > 0) --in_flight_;
  if (!done()) return;
  // Listings can start again after this (a development-server name that turned out to be a
  // directory); then the crawl completes again when they are done.
  if (failures_ == 0) {
    context_.store.set_crawl_complete(context_.mirror, unix_now());
    context_.log.info(context_.mirror_name + ": listing complete");
  }
  events_.finished();
}

}  // namespace pnsync
