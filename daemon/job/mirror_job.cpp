// SPDX-License-Identifier: MIT
#include "daemon/job/mirror_job.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/progress.hpp"
#include "daemon/disk/disk_space.hpp"
#include "daemon/disk/safe_path.hpp"
#include "daemon/net/http_policy.hpp"
#include "daemon/plan/dest_guard.hpp"
#include "daemon/transfer/transfer_io.hpp"

namespace pnsync {

namespace {

constexpr std::size_t kVerifiedBatch = 256;
constexpr auto kFlushDelay = std::chrono::milliseconds(200);
// Verified files that may wait for the disk (fsync, rename) without holding a transfer slot. Past
// this many, a file keeps its slot until it is published, so a slow disk holds the network back.
constexpr std::size_t kPublishAhead = 64;
// Paths a plan shows as examples of what a pass would fetch.
constexpr std::size_t kPlanSample = 10;

}  // namespace

MirrorJob::MirrorJob(JobServices services, const config::Config& config,
                     const config::Mirror& mirror, const std::string& server_url,
                     std::function<void(MirrorJob&)> on_finished, JobOptions options)
    : services_(services),
      config_(config),
      mirror_(mirror),
      name_(mirror.name()),
      base_url_(server_url + "/files/" + mirror.project + "/" + mirror.version + "/"),
      on_finished_(std::move(on_finished)),
      retries_(services.io, services.log, services.scheduler, name_,
               {config.retry_base, config.retry_max}),
      options_(options),
      flush_timer_(services.io) {}

MirrorJob::~MirrorJob() = default;

std::string MirrorJob::url_for(const std::string& relative) const {
  return base_url_ + percent_encode_path(relative);
}

void MirrorJob::start() {
  guarded([&] { begin(); });
}

void MirrorJob::begin() {
  mirror_id_ = services_.store.ensure_mirror(name_, mirror_.dest.string());
  if (!open_dest()) return;
  transfer_context_ = std::make_unique<TransferContext>(
      TransferContext{services_.io, services_.log, services_.http, *tree_, base_url_,
                      [this](std::int64_t bytes) { bytes_fetched_ += bytes; }, services_.budgets});
  transfer_context_->max_segments = config_.segments;
  transfer_context_->retry_after_max = config_.retry_after_max;
  transfer_context_->segment_size = config_.segment_size;
  transfer_context_->slow_stream = options_.slow_stream;
  // The request is over, only the disk is left: the slot can start the next file's request at
  // once instead of after the fsyncs and the rename (small files at 20 ms RTT, 16 transfers, ext4:
  // 9.9 s instead of 10.7 s for 5,991 files; docs/benchmarks.md).
  transfer_context_->on_publishing = [this](Transfer& transfer) {
    if (transfer_context_->publisher->in_flight() > kPublishAhead) return;
    files_->release_slot(transfer.file().path);
  };
  transfer_context_->save_segments = [this](store::FileId file, std::int64_t on_disk,
                                            const std::optional<std::string>& segments) {
    guarded([&] { services_.store.save_segments(file, on_disk, segments); });
  };
  files_ = std::make_unique<FileQueue>(
      FileQueueContext{services_.io, services_.log, services_.scheduler, services_.store,
                       mirror_id_, *transfer_context_, retries_, config_.max_attempts,
                       weak_from_this()},
      static_cast<PassControl&>(*this),
      FileQueueEvents{[this](const AttemptResult& result) { on_file_verified(result); },
                      [this](const std::string& dir) { crawl_->list(dir); },
                      [this] { check_finished(); }});
  services_.log.info(name_ + ": mirroring " + base_url_ + " to " + mirror_.dest.string());
  crawl_ = std::make_unique<CrawlStep>(
      CrawlContext{services_.log, services_.store, mirror_id_, base_url_, name_,
                   config_.relist_after, options_.listing_limit, selection_, manifest_dirs_,
                   [this](std::string_view path) { return wanted(path); }},
      static_cast<PassControl&>(*this),
      CrawlEvents{[this](const std::string& path) { on_file_listed(path); },
                  [this](const std::string& path) { on_file_gone(path); },
                  [this] { refresh_counts(false); }, [this] { check_finished(); }});
  manifest_ = std::make_unique<ManifestStep>(
      ManifestStepContext{services_.log, services_.store, mirror_id_, *tree_,
                          *transfer_context_->publisher, *transfer_context_->hash_worker,
                          url_for(std::string(kManifestName)), name_, mirror_.dest},
      static_cast<PassControl&>(*this), [this] { prepare_selection(); });
  // The manifest request goes alone: if the credentials are wrong, it is the only request made.
  manifest_->start();
}

bool MirrorJob::open_dest() {
  const auto counts = services_.store.counts(mirror_id_);
  const DestRecord record{services_.store.dest_marker(mirror_id_),
                          counts.files_verified + counts.files_kept_unselected};
  const auto any_verified_present = [this] {
    bool found = false;
    services_.store.scan_verified_paths(mirror_id_, [&](std::string_view path) {
      struct stat info {};
      found = ::lstat((mirror_.dest / path).c_str(), &info) == 0;
      return !found;
    });
    return found;
  };
  const DestCheck dest =
      check_destination(mirror_.dest, name_, record, any_verified_present, options_.refetch);
  if (!dest.may_start()) {
    stop(JobStatus::LocalStorage, dest.message);
    return false;
  }
  auto tree = LocalTree::open(mirror_.dest, tree_settings(config_));
  if (!tree) {
    stop(JobStatus::LocalStorage, tree.error().message);
    return false;
  }
  tree_.emplace(std::move(*tree));
  if (dest.verdict == DestVerdict::Refetch)
    services_.log.warning(name_ + ": refetch: every file missing from " + mirror_.dest.string() +
                          " is fetched again (pnsyncctl refetch)");
  if (dest.writes_marker())
    pending_marker_ = PendingMarker{record.marker.value_or(new_marker_name()), !record.marker,
                                    dest.verdict == DestVerdict::Unmarked};
  return true;
}

template <typename Done>
Fetcher::RequestId MirrorJob::send(GetRequest&& request, Done on_done) {
  auto id = std::make_shared<Fetcher::RequestId>();
  *id = services_.http.get(std::move(request), [this, self = shared_from_this(), id,
                                                on_done](const HttpOutcome& outcome) {
    text_requests_.erase(*id);
    guarded([&] { on_done(outcome); });
  });
  text_requests_.insert(*id);
  return *id;
}

bool MirrorJob::stop_if_refused(long status, const std::string& reason) {
  if (status == 401) {
    stop(JobStatus::AuthFailed,
         reason +
             " — stopped at once: repeated failed logins can lock a PhysioNet account. Check "
             "credentials.username and the password source.");
    return true;
  }
  if (status == 403) {
    stop(JobStatus::AccessDenied,
         reason +
             " — log in at physionet.org and check that your account is credentialed, its "
             "training is current and the data use agreement for " +
             name_ + " is signed.");
    return true;
  }
  return false;
}

void MirrorJob::send_listing_request(GetRequest request,
                                     std::function<void(const HttpOutcome&)> done) {
  services_.scheduler.submit(
      Lane::Listing, [this, self = shared_from_this(), request = std::move(request),
                      done = std::move(done)](Scheduler::Slot slot) mutable {
        if (status_ != JobStatus::Running) return;
        auto held = std::make_shared<Scheduler::Slot>(std::move(slot));
        send(std::move(request), [held, done = std::move(done)](const HttpOutcome& outcome) {
          held->release();
          done(outcome);
        });
      });
}

bool MirrorJob::running() const {
  return status_ == JobStatus::Running;
}

// The marker open_dest() found missing is written now, not before: a pass the server turns
// away (wrong password, unreachable) leaves a dest it never wrote to as it was.
bool MirrorJob::server_answered() {
  if (!pending_marker_) return true;
  const PendingMarker marker = *std::exchange(pending_marker_, std::nullopt);
  if (auto wrote = tree_->write_work_file(marker.name, marker_text(name_)); !wrote) {
    stop(JobStatus::LocalStorage, wrote.error().message);
    return false;
  }
  if (marker.is_new) services_.store.set_dest_marker(mirror_id_, marker.name);
  if (marker.was_lost)
    services_.log.info(name_ + ": " + mirror_.dest.string() +
                       " holds the mirror's files; its marker (" + std::string(kWorkAreaName) +
                       "/" + marker.name + ") is written again");
  return true;
}

void MirrorJob::record_verified(const store::VerifiedFile& file) {
  verified_batch_.push_back(file);
  flush_verified();
}

void MirrorJob::run_guarded(const std::function<void()>& step) {
  guarded(step);
}

bool MirrorJob::read_manifest(ManifestScope scope) {
  const ManifestReadContext context{services_.log,
                                    services_.store,
                                    mirror_id_,
                                    url_for(std::string(kManifestName)),
                                    (mirror_.dest / kManifestName).string(),
                                    selection_,
                                    [this](std::string_view path) { return wanted(path); }};
  auto read =
      read_manifest_into_store(manifest_->file().get(), scope, context,
                               Selection::required_tables(mirror_.selection), manifest_dirs_);
  if (!read) {
    stop(storage_status(read.error()), read.error().message);
    return false;
  }
  if (scope == ManifestScope::Tables) return true;
  std::string summary =
      name_ + ": SHA256SUMS.txt " + (manifest_->unchanged() ? "unchanged (304); lists " : "lists ");
  if (selection_.selects_everything()) {
    summary += std::to_string(read->kept) + " files";
  } else {
    summary += std::to_string(read->listed) + " files; " + std::to_string(read->kept) + " selected";
  }
  if (read->refused > 0) summary += "; " + std::to_string(read->refused) + " lines refused";
  services_.log.info(summary);
  return true;
}

void MirrorJob::prepare_selection() {
  const auto tables = Selection::required_tables(mirror_.selection);
  // The tables `select` reads are verified against the manifest like any file, and needed
  // before the selection exists: a first read keeps their entries and nothing else.
  if (!tables.empty() && manifest_->file() && !read_manifest(ManifestScope::Tables)) return;
  for (const auto& table : tables) {
    auto record = services_.store.find_file(mirror_id_, table);
    if (!record) {
      // Not in the manifest: its size comes from the response (Content-Length).
      const store::DiscoveredFile unknown{table, std::nullopt, std::nullopt, std::nullopt};
      services_.store.upsert_files(mirror_id_, std::span(&unknown, 1));
      record = services_.store.find_file(mirror_id_, table);
    }
    if (record->state == store::FileState::Verified) {
      auto on_disk = tree_->stat_final(table);
      if (on_disk && on_disk->has_value() && (*on_disk)->st_size == record->size.value_or(-1))
        continue;
      services_.store.requeue(record->id);
      record = services_.store.find_file(mirror_id_, table);
    } else if (record->state == store::FileState::Failed) {
      services_.store.requeue(record->id);
      record = services_.store.find_file(mirror_id_, table);
    }
    fetching_tables_ = true;
    enqueue(*record);
  }
  if (!fetching_tables_) selection_ready();
}

namespace {

// Identifies a selection for the crawl state: a crawl pruned by one selection is redone when it
// changes. Empty when everything is selected, as in databases from before selections existed.
std::string fingerprint_of(const config::SelectionSpec& spec, const Selection& selection) {
  if (selection.selects_everything()) return "";
  Sha256 hasher;
  for (const auto* list : {&spec.include, &spec.exclude}) {
    for (const auto& pattern : *list) hasher.update(pattern + '\n');
    hasher.update("\x1e");
  }
  if (const auto& exact = selection.exact_paths())
    for (const auto& path : *exact) hasher.update(path + '\n');
  return hasher.finish_hex();
}

}  // namespace

void MirrorJob::selection_ready() {
  fetching_tables_ = false;
  for (const auto& table : Selection::required_tables(mirror_.selection)) {
    const auto record = services_.store.find_file(mirror_id_, table);
    if (!record || record->state != store::FileState::Verified) {
      stop(JobStatus::Failed,
           "select needs " + table + ", which could not be fetched" +
               (record && !record->last_error.empty() ? ": " + record->last_error : std::string()));
      return;
    }
  }
  if (mirror_.selection.restricts()) {
    auto built = Selection::build(mirror_.selection, mirror_.dest);
    if (!built) {
      stop(built.error().kind == ErrorKind::LocalStorage ? JobStatus::LocalStorage
                                                         : JobStatus::Failed,
           built.error().message);
      return;
    }
    selection_ = std::move(*built);
  }
  // Only now is it known which entries are wanted: they alone are stored.
  if (manifest_->file()) {
    if (!read_manifest(ManifestScope::Selection)) return;
    manifest_->close_file();
  }
  const std::string fingerprint = fingerprint_of(mirror_.selection, selection_);
  if (fingerprint != services_.store.selection_fingerprint(mirror_id_)) {
    services_.log.info(name_ + ": the selection changed; listing again what it needs");
    services_.store.reset_crawl(mirror_id_);
    services_.store.set_selection_fingerprint(mirror_id_, fingerprint);
  }
  services_.store.apply_selection(mirror_id_,
                                  [this](std::string_view path) { return wanted(path); });
  keep_or_delete_unselected();
  if (status_ != JobStatus::Running) return;
  if (!options_.plan_only) plan_known_files();
  if (options_.verify_at_rest && !options_.plan_only) verify_at_rest();
  crawl_->start(manifest_->in_dest());
}

bool MirrorJob::wanted(std::string_view path) const {
  // The manifest is kept whatever the selection: it is what the local copy is checked against.
  return path == kManifestName || selection_.selected(path);
}

void MirrorJob::keep_or_delete_unselected() {
  const auto unselected = services_.store.unselected_verified_files(mirror_id_);
  if (unselected.empty()) return;
  if (!mirror_.selection.delete_unselected || options_.plan_only) {
    services_.log.info(name_ + ": " + std::to_string(unselected.size()) +
                       " files kept, not selected (delete_unselected is off)");
    return;
  }
  for (const auto& file : unselected) {
    if (auto removed = tree_->remove_final(file.path); !removed) {
      stop(JobStatus::LocalStorage, removed.error().message);
      return;
    }
    services_.store.requeue(file.id);  // no longer on disk; stays outside the selection
  }
  services_.log.info(name_ + ": deleted " + std::to_string(unselected.size()) +
                     " files no longer selected (delete_unselected: true)");
}

void MirrorJob::verify_at_rest() {
  std::vector<RestCheck> checks;
  for (auto& file : services_.store.verified_files(mirror_id_)) {
    checks.push_back({file.id, std::move(file.path), file.size,
                      file.expected_sha256 ? file.expected_sha256 : file.actual_sha256});
  }
  services_.log.info(name_ + ": verifying " + std::to_string(checks.size()) +
                     " files at rest against their SHA-256");
  verifier_running_ = true;
  verifier_ = std::make_unique<RestVerifier>(
      services_.io, *tree_, std::move(checks),
      [this, self = shared_from_this()](const std::vector<RestFinding>& findings) {
        guarded([&] { on_rest_findings(findings); });
      },
      [this, self = shared_from_this()] {
        verifier_running_ = false;
        services_.log.info(name_ + ": verify at rest done, " + std::to_string(verify_mismatches_) +
                           " files differed");
        guarded([&] { check_finished(); });
      });
}

void MirrorJob::on_rest_findings(const std::vector<RestFinding>& findings) {
  if (status_ != JobStatus::Running) return;
  for (const auto& finding : findings) {
    ++verify_mismatches_;
    services_.log.warning((mirror_.dest / finding.path).string() + ": " + finding.problem +
                          " (verify at rest); fetching it again");
    // Known-bad bytes must not stay visible as if verified, nor be adopted again by size.
    if (auto removed = tree_->remove_final(finding.path); !removed) {
      stop(JobStatus::LocalStorage, removed.error().message);
      return;
    }
    services_.store.requeue(finding.id);
    if (auto record = services_.store.find_file(mirror_id_, finding.path)) enqueue(*record);
  }
  refresh_counts(false);
}

void MirrorJob::plan_known_files() {
  // Before anything starts: a pass that cannot fit pauses with one message.
  counts_ = services_.store.counts(mirror_id_);
  if (!check_space()) return;
  const KnownFilesContext context{
      services_.log, services_.store,         mirror_id_,   *tree_, name_,
      mirror_.dest,  options_.verify_at_rest, crawl_->due()};
  const LocalTree::Closed closed =
      plan_known_files_of(context, [this](const store::FileRecord& file) { enqueue(file); });
  closed_.entries += closed.entries;
  closed_.world_readable += closed.world_readable;
  refresh_counts(true);
}

void MirrorJob::on_file_listed(const std::string& path) {
  if (options_.plan_only) return;
  auto record = services_.store.find_file(mirror_id_, path);
  if (!record || record->state == store::FileState::Verified) return;
  if (record->state == store::FileState::Failed) {
    // Still listed: a file an earlier pass gave up on gets a fresh start; one this pass gave up
    // on (the manifest started it before the listing came) has had its max_attempts.
    if (files_->holds(path) || files_->gave_up(path)) return;
    services_.store.requeue(record->id);
    record = services_.store.find_file(mirror_id_, path);
  }
  enqueue(*record);
}

void MirrorJob::on_file_gone(const std::string& path) {
  files_->forget(path);
}

void MirrorJob::enqueue(const store::FileRecord& file) {
  files_->enqueue(file);
}

void MirrorJob::on_file_verified(const AttemptResult& result) {
  closed_.entries += result.closed.entries;
  closed_.world_readable += result.closed.world_readable;
  verified_batch_.push_back(result.verified);
  if (verified_batch_.size() >= kVerifiedBatch) {
    flush_verified();
    return;
  }
  if (flush_armed_) return;
  flush_armed_ = true;
  flush_timer_.expires_after(kFlushDelay);
  flush_timer_.async_wait([this, self = shared_from_this()](const boost::system::error_code& ec) {
    flush_armed_ = false;
    guarded([&] {
      if (!ec) flush_verified();
      check_finished();
    });
  });
}

int MirrorJob::ranges_wanted() const {
  return files_ ? files_->ranges_wanted() : 0;
}

void MirrorJob::offer_spare_slots() {
  if (files_) files_->offer_spare_slots();
}

void MirrorJob::retry_waiting_now() {
  if (status_ == JobStatus::Running) retries_.end_all_now();
}

std::vector<InFlightFile> MirrorJob::in_flight() const {
  return files_ ? files_->in_flight() : std::vector<InFlightFile>{};
}

std::optional<MirrorJob::Attempt> MirrorJob::next_attempt(Attempt failed,
                                                          const HttpOutcome& outcome) const {
  // As for files (on_attempt_done): a connect that hung or was refused is the server out of
  // connections; once kMaxNotConnected such tries are spent, they count like any other.
  if (!outcome.connected() && failed.not_connected + 1 < kMaxNotConnected)
    return Attempt{failed.counted, failed.not_connected + 1};
  if (failed.counted >= config_.max_attempts) return std::nullopt;
  return Attempt{failed.counted + 1, failed.not_connected + (outcome.connected() ? 0 : 1)};
}

bool MirrorJob::retry(Attempt failed, const HttpOutcome& outcome,
                      std::function<void(Attempt)> again) {
  const auto next = next_attempt(failed, outcome);
  if (!next) return false;
  const bool counted = next->counted > failed.counted;
  retries_.wait(
      counted ? failed.counted : std::min(next->not_connected, 3),
      counted ? requested_wait(outcome, config_.retry_after_max) : std::nullopt,
      [this, self = shared_from_this(), again = std::move(again), next = *next](bool due) {
        guarded([&] {
          if (due && status_ == JobStatus::Running) again(next);
          check_finished();
        });
      });
  return true;
}

void MirrorJob::flush_verified() {
  if (verified_batch_.empty()) return;
  services_.store.mark_verified(verified_batch_);
  verified_batch_.clear();
  refresh_counts(false);
}

void MirrorJob::refresh_counts(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - counts_refreshed_ < std::chrono::seconds(1)) return;
  reload_counts();
  // As the crawl finds more files, the total grows: the check follows it.
  if (status_ == JobStatus::Running && !options_.plan_only) check_space();
}

void MirrorJob::reload_counts() {
  counts_refreshed_ = std::chrono::steady_clock::now();
  counts_ = services_.store.counts(mirror_id_);
}

bool MirrorJob::check_space() {
  const auto space = filesystem_space(mirror_.dest);
  if (!space) return true;
  if (auto why = shortage(counts_.bytes_remaining(), *space)) {
    stop(JobStatus::NoSpace, mirror_.dest.string() + ": " + *why);
    return false;
  }
  return true;
}

void MirrorJob::check_finished() {
  if (status_ != JobStatus::Running || finished_reported_) return;
  if (fetching_tables_) {
    if (files_->empty() && retries_.waiting() == 0) {
      flush_verified();
      selection_ready();
    }
    return;
  }
  if (!manifest_ || !manifest_->done() || !crawl_done() || !files_->empty() ||
      retries_.waiting() > 0 || verifier_running_)
    return;
  flush_verified();
  // Counted, not judged: what is left now is files given up on, and a shortage then is no
  // reason to pause the mirror (nor to end the pass twice).
  reload_counts();
  if (closed_.entries > 0) {
    char modes[64];
    std::snprintf(modes, sizeof modes, "file_mode %04o and dir_mode %04o",
                  static_cast<unsigned>(config_.file_mode),
                  static_cast<unsigned>(config_.dir_mode));
    services_.log.info(name_ + ": closed " + std::to_string(closed_.world_readable) +
                       " world-readable entries under " + mirror_.dest.string() + " (" +
                       std::to_string(closed_.entries) + " files and directories set to " + modes +
                       ")");
  }
  const std::size_t unlisted = crawl_->failures();
  status_ = unlisted > 0 ? JobStatus::Failed : JobStatus::Done;
  if (unlisted > 0) status_message_ = std::to_string(unlisted) + " directories could not be listed";
  finished_reported_ = true;
  on_finished_(*this);
}

void MirrorJob::stop(JobStatus why, std::string message) {
  if (status_ != JobStatus::Running) return;
  status_ = why;
  status_message_ = std::move(message);
  if (why != JobStatus::Stopped) services_.log.error(name_ + ": " + status_message_);
  if (files_) files_->cancel_all();
  for (auto id : std::set(text_requests_)) services_.http.cancel(id);
  text_requests_.clear();
  retries_.cancel_all();
  flush_timer_.cancel();
  if (verifier_) verifier_->stop();
  // What is verified is recorded, unless the database is what failed (each write would wait out
  // busy_timeout again); those files are adopted from dest by the next pass.
  guarded([&] {
    if (!store_failure_) flush_verified();
    reload_counts();
  });
  finished_reported_ = true;
  on_finished_(*this);
}

void MirrorJob::store_failed(const store::StoreError& error) {
  if (store_failure_) return;
  store_failure_ = error.what();
  // After the stack unwinds: a transfer, or curl, may be the caller.
  boost::asio::post(services_.io, [this, self = shared_from_this()] {
    stop(JobStatus::LocalStorage,
         *store_failure_ +
             " (the state database failed: this mirror's pass stops; the others go on)");
  });
}

JobProgress MirrorJob::progress() const {
  JobProgress progress;
  progress.counts = counts_;
  progress.bytes_fetched = bytes_fetched_;
  progress.dirs_pending = crawl_ ? static_cast<std::int64_t>(crawl_->in_flight()) : 0;
  progress.crawl_done = crawl_done();
  progress.in_flight = files_ ? files_->size() : 0;
  progress.modes_closed = closed_.entries;
  progress.modes_closed_world_readable = closed_.world_readable;
  if (verifier_) {
    progress.verifying = verifier_running_;
    progress.verify_checked = verifier_->files_checked();
    progress.verify_total = verifier_->files_total();
    progress.verify_mismatches = verify_mismatches_;
  }
  return progress;
}

protocol::Plan MirrorJob::plan() {
  flush_verified();
  const auto counts = services_.store.counts(mirror_id_);
  protocol::Plan plan;
  plan.mirror = name_;
  plan.files_selected = counts.files_total;
  plan.bytes_selected = counts.bytes_total;
  plan.files_unknown_size = counts.files_unknown_size;
  plan.files_verified = counts.files_verified;
  plan.files_kept_unselected = counts.files_kept_unselected;
  // Summed by the store: reading every unfinished row here held the event loop and one record
  // per file in memory (377,110 for MIMIC-CXR) each time someone asked for a plan.
  store::Store::ToFetch to_fetch = services_.store.to_fetch(mirror_id_, kPlanSample);
  plan.files_to_fetch = to_fetch.files;
  plan.bytes_to_fetch = to_fetch.bytes;
  plan.sample = std::move(to_fetch.sample);
  if (const auto& exact = selection_.exact_paths()) {
    // Named by files_from or select but not (yet) seen upstream.
    for (const auto& path : *exact) {
      if (services_.store.find_file(mirror_id_, path)) continue;
      ++plan.files_selected;
      ++plan.files_unknown_size;
      ++plan.files_to_fetch;
      if (plan.sample.size() < kPlanSample) plan.sample.push_back(path);
    }
  }
  plan.listing_complete = crawl_done() && crawl_->failures() == 0;
  return plan;
}

}  // namespace pnsync
