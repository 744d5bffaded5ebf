// SPDX-License-Identifier: MIT
// The daemon's engine: one HTTP client and one scheduler shared by every mirror, a runner per
// mirror, the adaptive concurrency controller, and the answers to control requests. It lives on
// one io_context and is driven by whoever owns that loop: `pnsyncd --once` (sync_pass.cpp) or the
// long-running daemon (daemon_main.cpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "common/progress.hpp"
#include "config/config.hpp"
#include "daemon/control/control_target.hpp"
#include "daemon/job/mirror_runner.hpp"
#include "daemon/net/http_client.hpp"
#include "daemon/schedule/concurrency_controller.hpp"
#include "daemon/schedule/scheduler.hpp"
#include "daemon/service/metrics.hpp"
#include "protocol/messages.hpp"
#include "store/store.hpp"

namespace pnsync {

class Engine final : public ControlTarget {
public:
  // `on_all_idle` runs whenever no mirror has a pass in flight after one ended (in Once mode:
  // every mirror has done its pass).
  Engine(boost::asio::io_context& io, config::Config config,
         const std::optional<config::Secret>& password, store::Store& store, Log& log,
         RunnerMode mode, std::function<void()> on_all_idle);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Options of every pass (before start()): pnsyncd --dry-run plans without fetching.
  void set_job_options(JobOptions options) { job_options_ = options; }
  void start();
  // Stops every pass (partial files stay for the next run); on_all_idle follows once the last
  // one has ended. Nothing starts afterwards.
  void shutdown(const std::string& why);
  bool shutting_down() const { return shutting_down_; }
  // Applies a reloaded configuration: new mirrors start, removed ones stop (their files stay),
  // limits change live. Settings that need a restart (server, credentials, state_dir, socket,
  // ca_file, ca_replace_system, user_agent) are kept and a warning says so. Returns what changed,
  // for the log.
  std::string reload(config::Config next);

  protocol::Response handle(const protocol::Request& request) override;
  protocol::DaemonStatus status();
  // The Prometheus /metrics body (daemon/service/metrics.hpp).
  std::string render_metrics();
  // One line for systemd's STATUS=: "mimic-cxr/2.1.0: 41% 12.1 MiB/s ETA 3h".
  std::string status_line();

  const config::Config& config() const { return config_; }
  const std::vector<std::unique_ptr<MirrorRunner>>& runners() const { return runners_; }
  std::int64_t bytes_fetched() const;
  double rate() const { return meter_.bytes_per_second(); }

private:
  // The control methods (engine_control.cpp): dispatch finds the handler in a table.
  protocol::Response dispatch(const protocol::Request& request);
  protocol::Response on_hello(const protocol::Request& request);
  protocol::Response on_status(const protocol::Request& request);
  protocol::Response on_failures(const protocol::Request& request);
  protocol::Response on_runner_command(const protocol::Request& request);  // pause..retry
  protocol::Response on_refetch(const protocol::Request& request);
  protocol::Response on_verify(const protocol::Request& request);
  protocol::Response on_limit(const protocol::Request& request);
  protocol::Response on_transfers(const protocol::Request& request);
  protocol::Response on_plan(const protocol::Request& request);
  void add_runner(const config::Mirror& mirror);
  void on_pass_end(MirrorRunner& runner);
  void observe(const HttpOutcome& outcome);
  void count_for_metrics(const HttpOutcome& outcome);
  void tick();
  // Cancels the ticker for good. cancel() alone does not reach a wait that has already completed
  // and whose handler is queued: that handler would run with success and arm the timer again,
  // keeping the loop (and a --once process) alive for ever.
  void stop_ticking();
  void control_step();
  // `transfers: N` or `auto`, from the configuration or pnsyncctl: the controller, its reason and
  // the limit applied.
  void set_fixed_transfers(int limit);
  void set_adaptive_transfers();
  // The one place the file-transfer limit is set: the scheduler's slots, and the connections
  // and streams per connection that carry them (connection_plan).
  void apply_transfer_limit(int limit);
  void apply_connection_plan();
  MirrorRunner* find(const std::string& name);
  // The runners a request addresses (all when `name` is empty), or an error response.
  std::optional<protocol::Response> select(const protocol::Request& request,
                                           std::vector<MirrorRunner*>& out);
  // One page of a failures request: at most its limit, from its cursor on.
  protocol::Response failures_page(const protocol::Request& request,
                                   std::vector<MirrorRunner*> targets);

  boost::asio::io_context& io_;
  config::Config config_;
  Log& log_;
  store::Store& store_;
  RunnerMode mode_;
  JobOptions job_options_;
  std::function<void()> on_all_idle_;
  HttpClient http_;
  Scheduler scheduler_;
  // bandwidth_limit over all mirrors: every mirror's file requests count against it.
  std::shared_ptr<RateBudget> host_budget_;
  std::vector<std::unique_ptr<MirrorRunner>> runners_;
  std::vector<std::unique_ptr<MirrorRunner>> retired_;  // removed by a reload, kept until exit
  bool shutting_down_ = false;
  bool started_ = false;

  boost::asio::steady_timer ticker_;
  boost::asio::steady_timer refusal_timer_;  // answers the first 429/503 of an interval
  bool ticking_ = false;  // cleared by stop_ticking(); a queued tick handler checks it
  RateMeter meter_;
  std::chrono::steady_clock::time_point started_at_;
  std::int64_t started_unix_ = 0;

  // Adaptive concurrency (transfers: auto).
  std::optional<ConcurrencyController> controller_;
  std::string transfers_reason_;
  std::chrono::steady_clock::time_point sample_from_;
  std::chrono::steady_clock::time_point metered_at_{};  // last rate sample and slot offer
  std::int64_t sample_bytes_from_ = 0;
  ThrottleSignals signals_;
  std::optional<std::chrono::seconds> retry_after_;
  std::optional<int> admitted_at_refusal_;  // at the interval's first 429/503
  int completed_ = 0;
  ConnectionPlan connections_;  // what the HTTP client was last told
  metrics::Metrics metrics_;
};

}  // namespace pnsync
