// SPDX-License-Identifier: MIT
// One pass over one mirror: fetch the manifest, crawl what it does not cover, and bring every
// listed file to the verified state. Data flows one way: listing -> plan -> schedule -> transfer
// -> verify -> store. The job owns its transfers; the scheduler only says when they may start.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "config/config.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/job/crawl_step.hpp"
#include "daemon/job/file_queue.hpp"
#include "daemon/job/known_files.hpp"
#include "daemon/job/manifest_read.hpp"
#include "daemon/job/manifest_step.hpp"
#include "daemon/job/pass_control.hpp"
#include "daemon/job/retry_waits.hpp"
#include "daemon/listing/manifest_file.hpp"
#include "daemon/net/fetcher.hpp"
#include "daemon/plan/selection.hpp"
#include "daemon/schedule/scheduler.hpp"
#include "daemon/transfer/rest_verifier.hpp"
#include "daemon/transfer/transfer.hpp"
#include "protocol/messages.hpp"
#include "store/store.hpp"

namespace pnsync {

struct JobProgress {
  store::MirrorCounts counts;      // the mirror's files, as the database counts them
  std::int64_t bytes_fetched = 0;  // received over the network during this pass
  std::int64_t dirs_pending = 0;
  bool crawl_done = false;
  std::size_t in_flight = 0;
  // Verify at rest, when this pass does it.
  bool verifying = false;
  std::int64_t verify_checked = 0;
  std::int64_t verify_total = 0;
  std::int64_t verify_mismatches = 0;
  // Adopted files and their directories whose modes or group this pass closed (a dest an earlier
  // `wget -r` filled), and how many of those others could read.
  std::int64_t modes_closed = 0;
  std::int64_t modes_closed_world_readable = 0;
};

struct JobOptions {
  // List (pruned by the selection) and fetch the tables `select` reads, but no other file: the
  // pass ends with plan() filled in (pnsyncd --dry-run).
  bool plan_only = false;
  // Hash every verified file again (RestVerifier) instead of only checking that it is there.
  bool verify_at_rest = false;
  // Dest is empty on purpose: start even though the state holds verified files that are not
  // there and dest lacks the mirror's marker (daemon/plan/dest_guard.hpp); what is missing is
  // fetched.
  bool refetch = false;
  // When a single stream is slow enough to split (tests make it judge sooner).
  SlowStreamSplit slow_stream = {};
  // The largest listing read (decompressed); a larger one is refused. Tests lower it.
  std::size_t listing_limit = std::size_t{64} << 20;
};

struct JobServices {
  boost::asio::io_context& io;
  Log& log;
  Fetcher& http;
  Scheduler& scheduler;
  store::Store& store;
  // What this mirror's file bodies are paced against: the host's bandwidth_limit and its own.
  ReceiveBudgets budgets = {};
};

// Shared ownership keeps the job alive while any of its handlers is queued on the loop (each
// captures shared_from_this()), so the owner may drop a finished or stopped job at any time.
// Transfers post their completions with a plain `this`; they are owned by the job and so never
// outlive it.
class MirrorJob : public std::enable_shared_from_this<MirrorJob>, private PassControl {
public:
  MirrorJob(JobServices services, const config::Config& config, const config::Mirror& mirror,
            const std::string& server_url, std::function<void(MirrorJob&)> on_finished,
            JobOptions options = {});
  ~MirrorJob() override;
  MirrorJob(const MirrorJob&) = delete;
  MirrorJob& operator=(const MirrorJob&) = delete;

  void start();
  // Stops every request; partial files stay for the next run. on_finished follows.
  void stop(JobStatus why, std::string message) override;
  // Runs `step`, a piece of this pass that uses the state database. A StoreError in it (SQLite
  // failed: a locked, damaged or full database) ends this pass as a local-storage failure, once
  // the call stack has unwound, instead of escaping through io_context::run() and ending the
  // daemon with every other mirror. Every handler this job gives the loop or a transfer runs
  // its body this way.
  template <typename Step>
  void guarded(Step&& step) {
    try {
      std::forward<Step>(step)();
    } catch (const store::StoreError& error) {
      store_failed(error);
    }
  }
  // Every request backing off (a failed attempt, a server's Retry-After) is tried again now: the
  // operator said go (pnsyncctl resume, sync).
  void retry_waiting_now();
  // The state database failed (guarded()): what SQLite said, once.
  const std::optional<std::string>& store_failure() const { return store_failure_; }

  const std::string& name() const { return name_; }
  JobStatus status() const { return status_; }
  const std::string& status_message() const { return status_message_; }
  JobProgress progress() const;
  std::vector<InFlightFile> in_flight() const;
  // What the selection means, from the store (and, after a plan_only pass, the full listing).
  protocol::Plan plan();
  // Hands transfer slots the scheduler can spare (nothing queued) to large files fetched in
  // byte ranges.
  void offer_spare_slots();
  // Transfers that would take another slot for a byte range (demand the queue does not show).
  int ranges_wanted() const;

private:
  std::string url_for(const std::string& relative) const;

  using Attempt = RequestAttempt;
  // The try after `failed` ended so, or nullopt when none is left.
  std::optional<Attempt> next_attempt(Attempt failed, const HttpOutcome& outcome) const;

  // PassControl, for the parts of the pass (ManifestStep).
  void send_listing_request(GetRequest request,
                            std::function<void(const HttpOutcome&)> done) override;
  bool running() const override;
  bool stop_if_refused(long status, const std::string& reason) override;
  // Also for listings.
  bool retry(Attempt failed, const HttpOutcome& outcome,
             std::function<void(Attempt)> again) override;
  bool server_answered() override;
  void record_verified(const store::VerifiedFile& file) override;
  void run_guarded(const std::function<void()>& step) override;

  // Reads manifest_file_ again from disk, stores the entries `scope` keeps (in batches) and, for
  // ManifestScope::Selection, fills manifest_dirs_ and logs what the manifest held. False when
  // the file could not be read (the job is stopped).
  bool read_manifest(ManifestScope scope);
  // Once the manifest step is over (its file open on the manifest, or none on the server).
  void prepare_selection();
  void selection_ready();
  void keep_or_delete_unselected();
  bool wanted(std::string_view path) const;
  void plan_known_files();
  void store_failed(const store::StoreError& error);
  void begin();  // start(), guarded
  void verify_at_rest();
  void on_rest_findings(const std::vector<RestFinding>& findings);
  // Opens dest unless it looks unmounted (daemon/plan/dest_guard.hpp); false: the job has stopped.
  bool open_dest();
  // CrawlEvents.
  void on_file_listed(const std::string& path);
  void on_file_gone(const std::string& path);
  void enqueue(const store::FileRecord& file);
  // FileQueueEvents::verified: batched for the store (kVerifiedBatch, or after kFlushDelay).
  void on_file_verified(const AttemptResult& result);
  void flush_verified();
  void check_finished();
  // counts_ from the store (at most once a second unless `force`), then check_space().
  void refresh_counts(bool force);
  void reload_counts();
  bool check_space();
  bool crawl_done() const { return crawl_ && crawl_->done(); }
  // Sends a request the job cancels when it stops (manifest and listings; transfers cancel
  // their own).
  template <typename Done>
  Fetcher::RequestId send(GetRequest&& request, Done on_done);

  JobServices services_;
  const config::Config& config_;
  config::Mirror mirror_;
  std::string name_;
  std::string base_url_;
  std::function<void(MirrorJob&)> on_finished_;
  // Files and listings backing off until their next try.
  RetryWaits retries_;

  store::MirrorId mirror_id_ = 0;
  // The marker dest lacks, written once the server has answered the first request.
  struct PendingMarker {
    std::string name;
    bool is_new = false;    // not yet recorded in the store
    bool was_lost = false;  // dest holds the mirror's files without it
  };
  std::optional<PendingMarker> pending_marker_;
  std::optional<LocalTree> tree_;
  std::unique_ptr<TransferContext> transfer_context_;
  JobOptions options_;
  // From begin(). Its file stays open until the last read of this pass (select: reads it twice).
  // Once it is in dest, the root listing leaves its row alone (the listing's dates have only
  // minutes).
  std::unique_ptr<ManifestStep> manifest_;
  std::optional<std::string> store_failure_;
  Selection selection_;
  bool fetching_tables_ = false;  // the tables `select` reads come before everything else
  std::unique_ptr<RestVerifier> verifier_;
  bool verifier_running_ = false;
  std::int64_t verify_mismatches_ = 0;
  // Directories the crawl takes as covered by the manifest, so neither lists nor fetches as a
  // file: the parents of its entries that the crawl can meet (see CoveredDirs in the .cpp).
  std::set<std::string> manifest_dirs_;
  // From begin(); lists with selection_ and manifest_dirs_ as they are when it starts.
  std::unique_ptr<CrawlStep> crawl_;
  std::unique_ptr<FileQueue> files_;  // from begin(); its transfers use transfer_context_

  JobStatus status_ = JobStatus::Running;
  std::string status_message_;
  std::set<Fetcher::RequestId> text_requests_;
  std::chrono::steady_clock::time_point counts_refreshed_{};
  std::vector<store::VerifiedFile> verified_batch_;
  boost::asio::steady_timer flush_timer_;
  bool flush_armed_ = false;
  store::MirrorCounts counts_;
  LocalTree::Closed closed_{};  // adopted entries brought to file_mode/dir_mode this pass
  std::int64_t bytes_fetched_ = 0;
  bool finished_reported_ = false;
};

}  // namespace pnsync
