// SPDX-License-Identifier: MIT
#include "daemon/engine/engine.hpp"

#include <curl/curl.h>
#include <unistd.h>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>

#include "common/unix_time.hpp"
#include "config/values.hpp"
#include "daemon/net/asio_cancel.hpp"
#include "daemon/net/http_policy.hpp"

namespace pnsync {

namespace {

// The loop's clock: fine enough for the controller's short slow-start intervals
// (ControllerParams::min_duration); rates are looked at every kMeterEvery, spare slots every tick.
constexpr auto kTickEvery = std::chrono::milliseconds(250);
constexpr auto kMeterEvery = std::chrono::seconds(1);

ControllerParams controller_params(const config::Config& config) {
  ControllerParams params;
  // Requests in flight up to max_transfers, one per connection up to max_connections and HTTP/2
  // streams above (connection_plan). Over HTTP/1.1 requests beyond the connections wait inside
  // curl, bring no throughput, and the controller does not keep them.
  params.max =
      std::min(config.max_transfers, config.max_connections * config.streams_per_connection);
  params.initial = std::min(config.initial_transfers(), params.max);
  params.max_connections = config.max_connections;
  params.streams_per_connection = config.streams_per_connection;
  // Doubling goes on past the connection bound (20 -> 40 -> 60 streams): many small files behind
  // a round trip need requests in flight more than connections, and each doubling must pay.
  params.slow_start_until = params.max;
  params.connect_timeout = config.connect_timeout;
  params.stall_timeout = config.stall_timeout;
  return params;
}

// Keys a running daemon cannot take over (its connections, socket and state were made with them):
// a reload keeps their running values and says which would need a restart.
struct RestartOnlyKey {
  const char* name;
  bool (*differs)(const config::Config& next, const config::Config& running);
  void (*keep)(config::Config& next, const config::Config& running);
};

template <auto Member>
constexpr RestartOnlyKey restart_only(const char* name) {
  return {
      name,
      [](const config::Config& next, const config::Config& running) {
        return next.*Member != running.*Member;
      },
      [](config::Config& next, const config::Config& running) { next.*Member = running.*Member; }};
}

constexpr std::array kRestartOnly = {
    restart_only<&config::Config::server>("server"),
    restart_only<&config::Config::state_dir>("state_dir"),
    restart_only<&config::Config::socket>("socket"),
    restart_only<&config::Config::ca_file>("ca_file"),
    restart_only<&config::Config::ca_replace_system>("ca_replace_system"),
    restart_only<&config::Config::user_agent>("user_agent"),
    restart_only<&config::Config::metrics_listen>("metrics_listen"),
    // Compared by user: the password was read once, at start-up, and is not read again.
    RestartOnlyKey{"credentials",
                   [](const config::Config& next, const config::Config& running) {
                     const auto user = [](const config::Config& c) {
                       return c.credentials ? std::optional(c.credentials->username) : std::nullopt;
                     };
                     return user(next) != user(running);
                   },
                   [](config::Config& next, const config::Config& running) {
                     next.credentials = running.credentials;
                   }},
};

}  // namespace

Engine::Engine(boost::asio::io_context& io, config::Config config,
               const std::optional<config::Secret>& password, store::Store& store, Log& log,
               RunnerMode mode, std::function<void()> on_all_idle)
    : io_(io),
      config_(std::move(config)),
      log_(log),
      store_(store),
      mode_(mode),
      on_all_idle_(std::move(on_all_idle)),
      http_(io, make_http_settings(config_, password)),
      scheduler_(io, config_.initial_transfers(), config_.listing_concurrency),
      host_budget_(std::make_shared<RateBudget>(config_.bandwidth_limit)),
      ticker_(io),
      refusal_timer_(io) {
  http_.set_observer([this](const HttpOutcome& outcome) { observe(outcome); });
}

Engine::~Engine() {
  cancel_quietly(ticker_);
  cancel_quietly(refusal_timer_);
  // Runners stop their passes while the HTTP client and scheduler still exist.
  runners_.clear();
  retired_.clear();
}

void Engine::add_runner(const config::Mirror& mirror) {
  JobServices services{io_, log_, http_, scheduler_, store_, {host_budget_}};
  runners_.push_back(std::make_unique<MirrorRunner>(
      services, config_, mirror, mode_, [this](MirrorRunner& runner) { on_pass_end(runner); },
      job_options_));
}

void Engine::start() {
  started_ = true;
  started_at_ = std::chrono::steady_clock::now();
  started_unix_ = unix_now();
  sample_from_ = started_at_;
  if (!config_.transfers)
    controller_.emplace(controller_params(config_), std::chrono::steady_clock::now());
  if (controller_) transfers_reason_ = controller_->state().reason;
  apply_transfer_limit(scheduler_.limit(Lane::File));
  for (const auto& mirror : config_.mirrors) add_runner(mirror);
  ticking_ = true;
  tick();
  // Every runner exists before any pass starts: a pass that ends at once (dest unwritable)
  // must not make the engine look idle while others have not begun.
  for (auto& runner : runners_) runner->sync_now();
}

void Engine::on_pass_end(MirrorRunner& runner) {
  if (runner.last_status() == JobStatus::Done) {
    log_.info(runner.name() + ": pass complete");
  }
  if (runner.last_status() == JobStatus::AuthFailed) {
    // Every mirror uses the same credentials: do not let the others fail a login too.
    for (auto& other : runners_)
      if (other.get() != &runner) other->pause("stopped after an authentication failure");
  }
  const bool any_running =
      std::any_of(runners_.begin(), runners_.end(), [](const auto& r) { return r->running(); }) ||
      std::any_of(retired_.begin(), retired_.end(), [](const auto& r) { return r->running(); });
  if (any_running) return;
  if (mode_ == RunnerMode::Once || shutting_down_) {
    stop_ticking();
    scheduler_.clear();
  }
  if (on_all_idle_) on_all_idle_();
}

void Engine::shutdown(const std::string& why) {
  if (shutting_down_) return;
  shutting_down_ = true;
  const bool any_running =
      std::any_of(runners_.begin(), runners_.end(), [](const auto& r) { return r->running(); });
  for (auto& runner : runners_) runner->retire(why);
  if (!any_running) {
    stop_ticking();
    scheduler_.clear();
    if (on_all_idle_) boost::asio::post(io_, on_all_idle_);
  }
}

MirrorRunner* Engine::find(const std::string& name) {
  for (auto& runner : runners_)
    if (runner->name() == name) return runner.get();
  return nullptr;
}

std::int64_t Engine::bytes_fetched() const {
  std::int64_t total = 0;
  for (const auto& runner : runners_) total += runner->bytes_fetched();
  for (const auto& runner : retired_) total += runner->bytes_fetched();
  return total;
}

void Engine::observe(const HttpOutcome& outcome) {
  const long status = outcome.info.status;
  count_for_metrics(outcome);
  if (!controller_) return;
  if (status == 429) ++signals_.http_429;
  if (status == 503) ++signals_.http_503;
  if (status == 429 || status == 503) {
    // What the server was serving as it refused: its cap, if we are its only client. The
    // largest count over the round trip after the first refusal, when the requests it admitted
    // along with the refused one have had their answers.
    admitted_at_refusal_ = std::max(admitted_at_refusal_.value_or(0), http_.answered_in_flight());
    if (signals_.http_429 + signals_.http_503 == 1) {
      // Answer the first refusal of an interval within a round trip, not at the next 2-s sample:
      // a refused request frees its slot and the scheduler refills it with the next file, which
      // is refused too, so every slot above the server's cap draws a 429 per round trip until
      // the limit is cut (bench/throttle: a fixed 16 against a 12-request cap, 1,312 429s in 58
      // s). Not at once: the count admitted is complete one round trip later, and until then
      // nothing new starts (each would be refused).
      const auto round_trip = std::clamp<std::chrono::steady_clock::duration>(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(outcome.seconds_to_headers)),
          std::chrono::milliseconds(5), std::chrono::milliseconds(250));
      scheduler_.hold_until(std::chrono::steady_clock::now() + round_trip);
      refusal_timer_.expires_after(round_trip);
      refusal_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec && controller_ && signals_.http_429 + signals_.http_503 > 0) control_step();
      });
    }
  }
  if (auto wait = requested_wait(outcome, config_.retry_after_max);
      wait && (!retry_after_ || *wait > *retry_after_))
    retry_after_ = wait;
  switch (outcome.curl_code) {
    case CURLE_OPERATION_TIMEDOUT:
      // Not connected in time (TCP or TLS) is the server turning connections away; connected
      // and silent is a stall.
      if (!outcome.request_sent)
        ++signals_.connect_timeouts;
      else
        ++signals_.stalls;
      break;
    case CURLE_COULDNT_CONNECT:
      ++signals_.connect_timeouts;
      break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP2:
      ++signals_.resets;
      break;
    default:
      break;
  }
  if (outcome.body_bytes > 0 || status != 0) ++completed_;
}

void Engine::count_for_metrics(const HttpOutcome& outcome) {
  using metrics::RetryReason;
  const long status = outcome.info.status;
  if (outcome.seconds_to_headers > 0)
    metrics_.request_latency.observe(std::chrono::duration<double>(outcome.seconds_to_headers));
  if (status == 401) ++metrics_.auth_failures;
  const Verdict verdict = classify(outcome.curl_code, status, outcome.info.retry_after.has_value());
  if (verdict == Verdict::RetryAfter || status == 429) {
    metrics_.count_retry(RetryReason::RateLimited);
  } else if (verdict == Verdict::Retry) {
    if (outcome.curl_code == CURLE_OPERATION_TIMEDOUT)
      metrics_.count_retry(RetryReason::Timeout);
    else if (status >= 500)
      metrics_.count_retry(RetryReason::ServerError);
    else
      metrics_.count_retry(RetryReason::Network);
  }
}

std::string Engine::render_metrics() {
  const auto daemon_status = status();
  metrics_.transfers_active = static_cast<std::int64_t>(scheduler_.running(Lane::File));
  for (auto& runner : runners_) {
    auto& counters = metrics_.mirror(runner->name());
    counters.fetched_bytes = static_cast<std::uint64_t>(runner->bytes_fetched());
    const auto counts = store_.counts(runner->mirror_id());
    counters.files(store::FileState::Verified) = counts.files_verified;
    counters.files(store::FileState::Failed) = counts.files_failed;
    // Pending and partial are one number in the counts; partial files are reported in status.
    counters.files(store::FileState::Pending) =
        counts.files_total - counts.files_verified - counts.files_failed;
    counters.files(store::FileState::Partial) = 0;
    counters.last_success_unix = runner->last_success_unix();
  }
  return metrics::render(metrics_, daemon_status);
}

std::string Engine::status_line() {
  std::string line;
  for (auto& runner : runners_) {
    const auto s = runner->status();
    if (!line.empty()) line += "; ";
    line += s.name + ": " + s.state;
    if (s.bytes_total > 0)
      line += " " + std::to_string(s.bytes_verified * 100 / s.bytes_total) + "%" +
              (s.bytes_total_estimated ? "+" : "");
    if (s.rate_bytes_per_s > 0) line += " " + format_rate(s.rate_bytes_per_s);
    if (s.eta_s) line += " ETA " + format_duration(std::chrono::seconds(*s.eta_s));
  }
  return line;
}

void Engine::stop_ticking() {
  ticking_ = false;
  ticker_.cancel();
  refusal_timer_.cancel();
}

void Engine::tick() {
  ticker_.expires_after(kTickEvery);
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !ticking_ ||
        (shutting_down_ && mode_ == RunnerMode::Continuous &&
         std::none_of(runners_.begin(), runners_.end(),
                      [](const auto& r) { return r->running(); })))
      return;
    const auto now = std::chrono::steady_clock::now();
    if (now - metered_at_ >= kMeterEvery) {
      metered_at_ = now;
      meter_.sample(now, bytes_fetched());
      for (auto& runner : runners_) runner->sample_rate(now);
    }
    if (controller_ && now - sample_from_ >= controller_->next_interval()) control_step();
    // Every tick: a slot a file left (or a raised limit) idles until a large file takes it.
    for (auto& runner : runners_) runner->offer_spare_slots();
    // A crawl starting or ending, or a lowered connection bound no longer remembered.
    apply_connection_plan();
    tick();
  });
}

void Engine::control_step() {
  const auto now = std::chrono::steady_clock::now();
  const std::int64_t fetched = bytes_fetched();
  Sample sample;
  sample.duration = std::chrono::duration_cast<std::chrono::milliseconds>(now - sample_from_);
  sample.bytes = std::max<std::int64_t>(0, fetched - sample_bytes_from_);
  sample.completed = completed_;
  sample.active = static_cast<int>(scheduler_.running(Lane::File));
  // Large files that would split into more ranges want slots as much as queued files do.
  sample.queued = static_cast<int>(scheduler_.queued(Lane::File));
  for (const auto& runner : runners_) sample.queued += runner->ranges_wanted();
  sample.signals = signals_;
  sample.retry_after = retry_after_;
  sample.admitted_at_refusal = admitted_at_refusal_;
  admitted_at_refusal_.reset();
  sample_from_ = now;
  sample_bytes_from_ = fetched;
  signals_ = {};
  retry_after_.reset();
  completed_ = 0;
  const Decision decision = controller_->observe(sample, now);
  transfers_reason_ = decision.reason;
  if (decision.hold_host) scheduler_.hold_until(now + *decision.hold_host);
  if (decision.changed) {
    apply_transfer_limit(decision.limit);
    log_.info("transfers: " + decision.reason);
  } else {
    apply_connection_plan();
  }
}

void Engine::set_fixed_transfers(int limit) {
  config_.transfers = limit;
  controller_.reset();
  transfers_reason_ = "fixed by configuration";
  apply_transfer_limit(limit);
}

void Engine::set_adaptive_transfers() {
  config_.transfers.reset();
  controller_.emplace(controller_params(config_), std::chrono::steady_clock::now());
  transfers_reason_ = controller_->state().reason;
  apply_transfer_limit(controller_->limit());
}

void Engine::apply_transfer_limit(int limit) {
  scheduler_.set_limit(Lane::File, limit);
  apply_connection_plan();
}

void Engine::apply_connection_plan() {
  const int bound = controller_ ? controller_->connection_bound(std::chrono::steady_clock::now())
                                : config_.max_connections;
  // Listings ride the same connections: while a crawl goes on they need connections of their
  // own, or each would wait inside curl for a file to end.
  const auto listings = static_cast<int>(
      std::min<std::size_t>(static_cast<std::size_t>(scheduler_.limit(Lane::Listing)),
                            scheduler_.running(Lane::Listing) + scheduler_.queued(Lane::Listing)));
  ConnectionPlan plan = connection_plan(scheduler_.limit(Lane::File) + listings, bound);
  plan.streams = std::min(plan.streams, config_.streams_per_connection);
  // Scenario 6 in docs/benchmarks.md: the last ranges of large files shared a few connections.
  plan = fill_connections_first(plan, http_.open_connections());
  if (plan == connections_) return;
  const bool connections_changed = plan.connections != connections_.connections;
  connections_ = plan;
  http_.set_connection_limit(plan.connections, plan.streams);
  if (connections_changed)
    log_.debug("connections: up to " + std::to_string(plan.connections) + ", " +
               std::to_string(plan.streams) + " request" + (plan.streams == 1 ? "" : "s") +
               " each");
}

std::string Engine::reload(config::Config next) {
  std::vector<std::string> changes;
  std::vector<std::string> need_restart;
  for (const RestartOnlyKey& key : kRestartOnly) {
    if (key.differs(next, config_)) need_restart.emplace_back(key.name);
    key.keep(next, config_);
  }

  bool new_transfers =
      next.transfers != config_.transfers || next.max_transfers != config_.max_transfers;
  if (new_transfers)
    changes.push_back("transfers " + (next.transfers ? std::to_string(*next.transfers) : "auto"));
  if (next.listing_concurrency != config_.listing_concurrency) {
    scheduler_.set_limit(Lane::Listing, next.listing_concurrency);
    changes.push_back("listing_concurrency " + std::to_string(next.listing_concurrency));
  }
  if (next.max_connections != config_.max_connections) {
    changes.push_back("max_connections " + std::to_string(next.max_connections));
    new_transfers = new_transfers || !next.transfers;  // the controller's bound
  }
  if (next.streams_per_connection != config_.streams_per_connection)
    changes.push_back("streams_per_connection " + std::to_string(next.streams_per_connection));
  if (next.bandwidth_limit != config_.bandwidth_limit)
    changes.push_back("bandwidth_limit " + config::detail::rate_setting(next.bandwidth_limit));
  if (next.log_level != config_.log_level) changes.emplace_back("log_level");

  // Mirrors by name: removed ones stop (files stay), new ones start, the rest take new settings.
  // The config is replaced before runners see it: they read it by reference.
  std::vector<config::Mirror> added;
  for (const auto& mirror : next.mirrors) {
    if (!find(mirror.name())) added.push_back(mirror);
  }
  for (auto it = runners_.begin(); it != runners_.end();) {
    const auto kept = std::find_if(next.mirrors.begin(), next.mirrors.end(),
                                   [&](const auto& m) { return m.name() == (*it)->name(); });
    if (kept == next.mirrors.end()) {
      changes.push_back("removed " + (*it)->name() + " (its files stay)");
      (*it)->retire("removed from the configuration");
      retired_.push_back(std::move(*it));
      it = runners_.erase(it);
    } else {
      if (kept->dest != (*it)->mirror().dest) {
        need_restart.push_back((*it)->name() + " dest");
        kept->dest = (*it)->mirror().dest;
      }
      (*it)->update(*kept);
      ++it;
    }
  }
  config_ = std::move(next);
  host_budget_->set_rate(config_.bandwidth_limit);
  if (new_transfers && config_.transfers)
    set_fixed_transfers(*config_.transfers);
  else if (new_transfers)
    set_adaptive_transfers();
  else if (config_.transfers)
    apply_transfer_limit(*config_.transfers);  // streams_per_connection may have changed
  else if (controller_)
    apply_transfer_limit(controller_->limit());
  for (const auto& mirror : added) {
    changes.push_back("added " + mirror.name());
    add_runner(mirror);
    if (!shutting_down_) runners_.back()->sync_now();
  }
  if (!need_restart.empty()) {
    std::string keys;
    for (const auto& key : need_restart) keys += (keys.empty() ? "" : ", ") + key;
    log_.warning("reload: " + keys + " changed; that takes a restart, keeping the running value");
  }
  std::string summary;
  for (const auto& change : changes) summary += (summary.empty() ? "" : "; ") + change;
  return summary.empty() ? "no change" : summary;
}

protocol::DaemonStatus Engine::status() {
  protocol::DaemonStatus status;
  status.version = PNSYNC_VERSION;
  status.pid = static_cast<std::int64_t>(::getpid());
  status.started_unix = started_unix_;
  status.transfers = scheduler_.limit(Lane::File);
  status.transfers_auto = controller_.has_value();
  status.max_transfers = config_.max_transfers;
  status.transfers_reason = transfers_reason_;
  status.bandwidth_limit = config_.bandwidth_limit;
  status.rate_bytes_per_s = meter_.bytes_per_second();
  auto& connections = status.connections;
  connections.open = http_.open_connections();
  connections.limit = connections_.connections;
  connections.max = config_.max_connections;
  connections.adaptive = controller_.has_value();
  connections.streams_per_connection = connections_.streams;
  connections.requests_in_flight = static_cast<int>(http_.active());
  if (connections.open > 0)
    connections.rate_per_connection_bytes_per_s = status.rate_bytes_per_s / connections.open;
  if (controller_ &&
      controller_->connection_bound(std::chrono::steady_clock::now()) < config_.max_connections)
    connections.reason = controller_->state().connection_reason;
  bool all_paused = !runners_.empty();
  for (auto& runner : runners_) {
    all_paused = all_paused && runner->paused();
    status.mirrors.push_back(runner->status());
  }
  status.paused = all_paused;
  if (const auto held = scheduler_.held_until()) {
    const auto left =
        std::chrono::ceil<std::chrono::seconds>(*held - std::chrono::steady_clock::now());
    status.held_until_unix = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count() +
                             left.count();
  }
  return status;
}

}  // namespace pnsync
