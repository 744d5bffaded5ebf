// SPDX-License-Identifier: MIT
// One mirror over the daemon's lifetime: runs a pass (a MirrorJob) now, again on its schedule
// (`every`) or when asked, and stops or pauses it without losing partial files. The job does the
// work of a pass; the runner only decides when passes happen and remembers how the last one ended.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/progress.hpp"
#include "config/config.hpp"
#include "daemon/job/mirror_job.hpp"
#include "protocol/messages.hpp"

namespace pnsync {

enum class RunnerMode {
  Once,        // one pass, then done (pnsyncd --once)
  Continuous,  // a pass now, then every `every`, until stopped
};

class MirrorRunner {
public:
  MirrorRunner(JobServices services, const config::Config& config, config::Mirror mirror,
               RunnerMode mode, std::function<void(MirrorRunner&)> on_pass_end,
               JobOptions job_options = {});
  ~MirrorRunner();
  MirrorRunner(const MirrorRunner&) = delete;
  MirrorRunner& operator=(const MirrorRunner&) = delete;

  const std::string& name() const { return name_; }
  const config::Mirror& mirror() const { return mirror_; }
  store::MirrorId mirror_id() const { return mirror_id_; }

  // Starts a pass unless one runs or the mirror is paused or retired; a sync asked for during a
  // pass starts another one right after it.
  void sync_now();
  // Stops the pass in flight (its partial files stay) and starts none until resume().
  void pause(std::string why);
  void resume();
  // Failed files get a fresh start in a new pass.
  // A running pass's requests that are backing off are tried again now (pnsyncctl resume, sync).
  void retry_waiting_now();
  void retry_failed();
  // Every verified file is hashed again against the manifest or its stored hash in a new pass;
  // a mismatch is fetched again.
  void verify_at_rest();
  // The next pass starts even though dest lacks the mirror's marker and its verified files (an
  // empty dest on purpose); everything missing is fetched again.
  void refetch();
  // For good: a removed mirror or a daemon shutting down. on_pass_end follows if a pass ran.
  void retire(std::string why);
  // A reloaded config: the schedule and limits of this mirror may have changed.
  void update(const config::Mirror& mirror);

  bool running() const { return job_ != nullptr; }
  bool paused() const { return paused_; }
  bool retired() const { return retired_; }

  // How the last finished pass ended (Running while none has).
  JobStatus last_status() const { return last_status_; }
  const std::string& last_message() const { return last_message_; }
  JobProgress progress() const;
  std::optional<std::int64_t> last_success_unix() const { return last_sync_unix_; }
  // Failed files among the selected ones, counted by the store.
  std::int64_t failed_count();
  // Failed files after `after` by path, at most `limit` (Store::failed_files_page).
  std::vector<store::FileRecord> failures_page(std::string_view after, std::size_t limit);
  std::int64_t bytes_fetched() const;
  // Called about once a second: feeds this mirror's rate meter.
  void sample_rate(std::chrono::steady_clock::time_point now);
  // Gives transfer slots nobody queued for to large files fetched in ranges (once a second).
  void offer_spare_slots();
  int ranges_wanted() const;
  double rate() const { return meter_.bytes_per_second(); }
  protocol::MirrorStatus status();
  // What the selection means: from the pass in flight (counted in the store), else as the last
  // pass left it (counts kept in memory).
  std::optional<protocol::Plan> plan();

private:
  void start_pass();
  void on_job_finished(MirrorJob& job);
  void schedule_next();
  // After NoSpace: look at the free space every minute and start a pass once it fits.
  void wait_for_space();
  std::shared_ptr<MirrorJob> make_job();

  JobServices services_;
  const config::Config& config_;
  config::Mirror mirror_;
  std::string name_;
  RunnerMode mode_;
  std::function<void(MirrorRunner&)> on_pass_end_;
  JobOptions job_options_;
  std::optional<protocol::Plan> last_plan_;

  store::MirrorId mirror_id_;
  std::shared_ptr<MirrorJob> job_;  // the pass in flight
  boost::asio::steady_timer next_pass_;
  boost::asio::steady_timer space_poll_;
  std::int64_t free_at_shortage_ = 0;
  std::optional<std::int64_t> next_pass_unix_;
  std::optional<std::int64_t> last_sync_unix_;  // end of the last complete pass
  std::int64_t pass_started_unix_ = 0;
  bool paused_ = false;
  std::string pause_reason_;
  bool retired_ = false;
  bool sync_requested_ = false;
  // For the next pass only (pnsyncctl verify, refetch).
  bool verify_requested_ = false;
  bool refetch_requested_ = false;
  JobStatus last_status_ = JobStatus::Running;
  std::string last_message_;
  JobProgress last_progress_;
  std::int64_t bytes_fetched_before_ = 0;  // by passes that ended
  // This mirror's bandwidth_limit, shared by its requests (services_.budgets holds it too).
  std::shared_ptr<RateBudget> budget_;
  RateMeter meter_;
  // Per-transfer rate: bytes on disk at the previous status call.
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::int64_t>> seen_;
};

}  // namespace pnsync
