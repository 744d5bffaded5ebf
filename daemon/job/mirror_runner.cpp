// SPDX-License-Identifier: MIT
#include "daemon/job/mirror_runner.hpp"

#include <sys/stat.h>
#include <boost/asio/post.hpp>

#include <cstdio>
#include <utility>

#include "common/progress.hpp"
#include "common/unix_time.hpp"
#include "daemon/disk/disk_space.hpp"

namespace pnsync {

namespace {

// Credentialed data must not be readable by people who have not signed the data use agreement:
// say so when others may list or enter dest.
std::string open_to_others_warning(const std::filesystem::path& dest) {
  struct stat info {};
  if (::stat(dest.c_str(), &info) != 0 || (info.st_mode & (S_IROTH | S_IXOTH)) == 0) return "";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
  return dest.string() + " is mode " + mode +
         ": others may read the mirror, which the data use agreement forbids (chmod o-rwx; "
         "share through `group:` instead)";
}

}  // namespace

MirrorRunner::MirrorRunner(JobServices services, const config::Config& config,
                           config::Mirror mirror, RunnerMode mode,
                           std::function<void(MirrorRunner&)> on_pass_end, JobOptions job_options)
    : services_(services),
      config_(config),
      mirror_(std::move(mirror)),
      name_(mirror_.name()),
      mode_(mode),
      on_pass_end_(std::move(on_pass_end)),
      job_options_(job_options),
      // Once, here: status and metrics read the store by id, never by (re)registering the name.
      mirror_id_(services.store.ensure_mirror(name_, mirror_.dest.string())),
      next_pass_(services.io),
      space_poll_(services.io),
      budget_(std::make_shared<RateBudget>(mirror_.bandwidth_limit)) {
  services_.budgets.push_back(budget_);
}

MirrorRunner::~MirrorRunner() {
  if (job_) job_->stop(JobStatus::Stopped, "shutting down");
}

std::shared_ptr<MirrorJob> MirrorRunner::make_job() {
  JobOptions options = job_options_;
  options.verify_at_rest = options.verify_at_rest || std::exchange(verify_requested_, false);
  options.refetch = options.refetch || std::exchange(refetch_requested_, false);
  auto job = std::make_shared<MirrorJob>(
      services_, config_, mirror_, config_.server, [this](MirrorJob& job) { on_job_finished(job); },
      options);
  return job;
}

void MirrorRunner::sync_now() {
  if (retired_ || paused_) return;
  if (job_) {
    sync_requested_ = true;
    return;
  }
  start_pass();
}

void MirrorRunner::start_pass() {
  next_pass_.cancel();
  next_pass_unix_.reset();
  sync_requested_ = false;
  pass_started_unix_ = unix_now();
  job_ = make_job();
  // The job may finish inside start() (a local storage problem); job_ is then already reset.
  auto job = job_;
  job->start();
}

void MirrorRunner::on_job_finished(MirrorJob& job) {
  last_status_ = job.status();
  last_message_ = job.status_message();
  last_progress_ = job.progress();
  bytes_fetched_before_ += last_progress_.bytes_fetched;
  if (last_status_ == JobStatus::Done) last_sync_unix_ = unix_now();
  if (last_status_ == JobStatus::Done || job_options_.plan_only) last_plan_ = job.plan();
  seen_.clear();
  // Dropped on the loop, not here: we are inside the job's own call stack. Handlers it queued
  // before this point run first (the loop is FIFO), and each holds its own reference anyway.
  boost::asio::post(services_.io, [finished = std::move(job_)] {});
  job_.reset();
  on_pass_end_(*this);
  if (retired_ || mode_ == RunnerMode::Once) return;
  if (paused_) return;
  // An authentication failure must not be retried on a timer: repeated failed logins can lock
  // the account. It waits for a reload with new credentials or an explicit sync.
  if (last_status_ == JobStatus::AuthFailed) return;
  if (sync_requested_) {
    boost::asio::post(services_.io, [this] { sync_now(); });
    return;
  }
  if (last_status_ == JobStatus::NoSpace) {
    const auto space = filesystem_space(mirror_.dest);
    free_at_shortage_ = space ? space->available : 0;
    wait_for_space();
    return;
  }
  schedule_next();
}

void MirrorRunner::wait_for_space() {
  space_poll_.expires_after(std::chrono::minutes(1));
  space_poll_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || retired_ || paused_ || job_) return;
    const auto space = filesystem_space(mirror_.dest);
    std::int64_t remaining = 0;
    try {
      remaining = services_.store.counts(mirror_id_).bytes_remaining();
    } catch (const store::StoreError& error) {
      services_.log.error(name_ + ": " + error.what() + "; asking again in a minute");
      wait_for_space();
      return;
    }
    // Fits now, or (sizes unknown, ENOSPC mid-write) somebody freed a worthwhile amount.
    const bool fits = space && !shortage(remaining, *space);
    const bool freed = space && space->available > free_at_shortage_ + (std::int64_t{64} << 20);
    if (space && ((remaining > 0 && fits) || (remaining <= 0 && freed))) {
      services_.log.info(name_ + ": disk space available again (" + format_bytes(space->available) +
                         " free); resuming");
      sync_now();
      return;
    }
    wait_for_space();
  });
}

void MirrorRunner::schedule_next() {
  // A pass that did not complete is retried sooner than the regular schedule, but not in a
  // tight loop: the causes (server down, disk full, access withdrawn) take time to fix.
  // `every` counts from the start of the last complete pass, so a long pass does not push the
  // schedule.
  const auto every = std::chrono::duration_cast<std::chrono::seconds>(mirror_.every);
  const std::chrono::seconds since_start(
      std::max<std::int64_t>(0, unix_now() - pass_started_unix_));
  const auto delay = last_status_ == JobStatus::Done
                         ? std::max(std::chrono::seconds(0), every - since_start)
                         : std::min(every, std::chrono::seconds(15 * 60));
  next_pass_unix_ = unix_now() + delay.count();
  next_pass_.expires_after(delay);
  next_pass_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) sync_now();
  });
}

void MirrorRunner::pause(std::string why) {
  if (retired_) return;
  paused_ = true;
  space_poll_.cancel();
  pause_reason_ = std::move(why);
  next_pass_.cancel();
  next_pass_unix_.reset();
  if (job_) job_->stop(JobStatus::Stopped, pause_reason_);
}

void MirrorRunner::resume() {
  if (retired_ || !paused_) return;
  paused_ = false;
  pause_reason_.clear();
  sync_now();
}

void MirrorRunner::retry_waiting_now() {
  if (job_) job_->retry_waiting_now();
}

void MirrorRunner::retry_failed() {
  if (retired_) return;
  // A new pass re-queues failed files with fresh attempt counts (MirrorJob::plan_known_files).
  sync_now();
}

void MirrorRunner::verify_at_rest() {
  verify_requested_ = true;
  sync_now();
}

void MirrorRunner::refetch() {
  refetch_requested_ = true;
  sync_now();
}

void MirrorRunner::retire(std::string why) {
  if (retired_) return;
  retired_ = true;
  next_pass_.cancel();
  space_poll_.cancel();
  next_pass_unix_.reset();
  if (job_) job_->stop(JobStatus::Stopped, std::move(why));
}

void MirrorRunner::update(const config::Mirror& mirror) {
  const bool schedule_changed = mirror.every != mirror_.every;
  const bool selection_changed = !(mirror.selection == mirror_.selection);
  mirror_ = mirror;
  budget_->set_rate(mirror_.bandwidth_limit);  // requests in flight too
  if (selection_changed) {
    // A new selection is mirrored now, not at the next scheduled pass.
    services_.log.info(name_ + ": selection changed; starting a pass");
    sync_now();
    return;
  }
  if (schedule_changed && next_pass_unix_) schedule_next();
}

JobProgress MirrorRunner::progress() const {
  return job_ ? job_->progress() : last_progress_;
}

std::optional<protocol::Plan> MirrorRunner::plan() {
  if (job_) return job_->plan();
  return last_plan_;
}

std::int64_t MirrorRunner::failed_count() {
  return services_.store.counts(mirror_id_).files_failed;
}

std::vector<store::FileRecord> MirrorRunner::failures_page(std::string_view after,
                                                           std::size_t limit) {
  return services_.store.failed_files_page(mirror_id_, after, limit);
}

std::int64_t MirrorRunner::bytes_fetched() const {
  return bytes_fetched_before_ + (job_ ? job_->progress().bytes_fetched : 0);
}

void MirrorRunner::sample_rate(std::chrono::steady_clock::time_point now) {
  meter_.sample(now, bytes_fetched());
}

void MirrorRunner::offer_spare_slots() {
  if (job_) job_->offer_spare_slots();
}

int MirrorRunner::ranges_wanted() const {
  return job_ ? job_->ranges_wanted() : 0;
}

protocol::MirrorStatus MirrorRunner::status() {
  const double rate = meter_.bytes_per_second();
  protocol::MirrorStatus status;
  status.name = name_;
  status.dest = mirror_.dest.string();
  const JobProgress progress = this->progress();
  if (retired_) {
    status.state = "stopped";
  } else if (paused_) {
    status.state = "paused";
    status.reason = pause_reason_;
  } else if (job_) {
    status.state = progress.verifying                                  ? "verifying"
                   : progress.crawl_done || progress.dirs_pending == 0 ? "syncing"
                                                                       : "listing";
    if (progress.verifying)
      status.reason = std::to_string(progress.verify_checked) + "/" +
                      std::to_string(progress.verify_total) + " files checked, " +
                      std::to_string(progress.verify_mismatches) + " differed";
  } else if (last_status_ == JobStatus::Done || last_status_ == JobStatus::Running) {
    status.state = "idle";
  } else if (last_status_ == JobStatus::NoSpace) {
    status.state = "paused";
    status.reason = last_message_ + " (resumes by itself when space is freed)";
  } else {
    status.state = "failed";
    status.reason =
        std::string(to_string(last_status_)) + (last_message_.empty() ? "" : ": " + last_message_);
  }
  // No pass has run yet (a paused start): the database still knows the totals.
  const store::MirrorCounts counts = !job_ && last_status_ == JobStatus::Running
                                         ? services_.store.counts(mirror_id_)
                                         : progress.counts;
  status.files_total = counts.files_total;
  status.files_verified = counts.files_verified;
  status.files_failed = counts.files_failed;
  status.files_unknown_size = counts.files_unknown_size;
  status.bytes_total = counts.bytes_total;
  status.bytes_verified = counts.bytes_verified;
  status.dirs_pending = job_ ? progress.dirs_pending : 0;
  status.modes_closed = job_ ? progress.modes_closed : 0;
  status.modes_closed_world_readable = job_ ? progress.modes_closed_world_readable : 0;
  status.bytes_total_estimated = (job_ && !progress.crawl_done) || status.files_unknown_size > 0;
  status.rate_bytes_per_s = job_ ? rate : 0.0;
  if (job_ && !status.bytes_total_estimated) {
    if (auto left = eta(status.bytes_total - status.bytes_verified, rate))
      status.eta_s = left->count();
  }
  status.warning = open_to_others_warning(mirror_.dest);
  status.last_sync_unix = last_sync_unix_;
  status.next_sync_unix = next_pass_unix_;
  status.bandwidth_limit = mirror_.bandwidth_limit;
  if (job_) {
    const auto now = std::chrono::steady_clock::now();
    decltype(seen_) seen_now;
    for (auto& file : job_->in_flight()) {
      protocol::TransferStatus transfer;
      transfer.path = file.path;
      transfer.bytes_on_disk = file.bytes_on_disk;
      transfer.size = file.size;
      transfer.ranges = file.ranges;
      transfer.checking = file.checking;
      if (auto before = seen_.find(file.path); before != seen_.end()) {
        const double seconds = std::chrono::duration<double>(now - before->second.first).count();
        if (seconds > 0.2)
          transfer.rate_bytes_per_s =
              static_cast<double>(file.bytes_on_disk - before->second.second) / seconds;
        else
          seen_now.emplace(file.path, before->second);
      }
      seen_now.try_emplace(file.path, now, file.bytes_on_disk);
      status.transfers.push_back(std::move(transfer));
    }
    seen_ = std::move(seen_now);
  }
  return status;
}

}  // namespace pnsync
