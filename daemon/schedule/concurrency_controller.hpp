// SPDX-License-Identifier: MIT
// Adaptive concurrency for file transfers (`transfers: auto`): how many files to download at once,
// decided from what the last control interval showed. AIMD, as TCP does it: raise while the
// aggregate throughput keeps rising, cut multiplicatively on signs of throttling, then probe upward
// again slowly. A pure function of the samples and an injected time: no clock, no I/O, no logging;
// the caller applies the limit (Scheduler::set_limit), the host hold (Scheduler::hold_until) and
// logs the reason. docs/adaptive.md explains the policy and its constants.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pnsync {

using ControlClock = std::chrono::steady_clock;

// Signs that the server (or something before it) refuses more load, counted over one interval.
struct ThrottleSignals {
  int http_429 = 0;
  int http_503 = 0;
  int connect_timeouts = 0;
  int resets = 0;  // connection reset or closed mid-transfer
  int stalls = 0;  // no byte for stall_timeout
};

// What one control interval showed. The caller picks the interval (2 s works well) and resets its
// counters after each sample.
struct Sample {
  std::chrono::milliseconds duration{0};  // length of the interval that ends at `now`
  std::int64_t bytes = 0;                 // body bytes received by all file transfers
  int completed = 0;                      // file transfers that finished (any outcome)
  int active = 0;                         // file transfers running at the end of the interval
  int queued = 0;                         // files waiting for a slot at the end of the interval
  ThrottleSignals signals;
  std::optional<std::chrono::seconds> retry_after;  // longest Retry-After seen, if any
  // Requests the server was serving (answered 2xx, still in flight) when it first refused one
  // with 429/503 in this interval: its cap, when pnsync is its only client. A cut goes no lower
  // than that (nor above the limit less one).
  std::optional<int> admitted_at_refusal;
  // Median receive rate (bytes/s) of the transfers that were downloading for the whole interval;
  // nullopt when fewer than three were. Short files never span an interval, so a switch from
  // large images to small reports does not look like a collapse.
  std::optional<double> transfer_rate;
};

struct ControllerParams {
  int initial = 4;
  int min = 1;
  int max = 16;  // max_transfers: requests in flight

  // Connections: 0 leaves them out of the model (every limit is one transfer more or less).
  // Otherwise the limit is the number of requests in flight, carried by min(limit, bound)
  // connections (bound = max_connections, or less after connect time-outs), each with
  // limit / connections streams. A per-flow limit (physionet.org) pays per connection and only
  // an even spread of the streams gets it all, so above the bound the limit moves in whole
  // multiples of it (connection_plan): 18, 36, 54 with a bound of 18.
  int max_connections = 0;
  // Requests beyond the connections are streams on connections already open: they cost the
  // server a request, not a flow, and must bring `stream_efficiency` of an average request
  // (efficiency is for new connections).
  double stream_efficiency = 0.1;
  // The most streams one connection carries (0: no cap). With the bound lowered by connect
  // time-outs, the limit stays within bound * streams_per_connection: requests beyond it would
  // wait inside curl, and curl counts that wait against their connect time-out.
  int streams_per_connection = 0;
  // Connect (or TLS handshake) time-outs at `n` connections set the connection bound to the
  // connections that did connect (n minus the time-outs), at most n - 1 and at least
  // n * connection_cut; it holds for ceiling_memory.
  double connection_cut = 0.7;

  // Measuring: an interval that starts less than `settle` after a change (or after a host hold
  // ends) still shows the old setting and is not used; a limit is judged on `measure` of clean
  // intervals in which exactly `limit` transfers were running.
  std::chrono::milliseconds settle{1000};
  std::chrono::milliseconds measure{8000};
  // Noise guard: an interval shorter than this, or with fewer bytes and fewer completions than
  // these, says nothing about throughput.
  std::chrono::milliseconds min_duration{500};
  std::int64_t min_bytes = 64 * 1024;
  int min_completions = 8;

  // Every transfer must earn its place. A raise from n to n+k is kept when throughput rose by at
  // least max(min_gain, efficiency * k / n): the new transfers must each add at least `efficiency`
  // of what an average transfer already brings, and more than the noise between two measurements.
  // A probe down from n+1 to n is kept by the same test read the other way: when n+1 brought less
  // than that over n. Without the probes down, measurement noise would ratchet the limit up to max
  // on a plateau (every lucky probe up is kept, nothing ever undoes it).
  double min_gain = 0.03;
  double efficiency = 0.25;
  // Slow start doubles the limit (4 -> 8 -> 16) and judges each step on `slow_start_measure`
  // instead of `measure`: a doubling must bring +25%, and one 2-s interval (noise about +-10%)
  // tells +100% from +0% well enough; a result near the bar is measured longer (close_call).
  // With +2 steps judged on 8 s, reaching 12 took 40 s: longer than a whole small update.
  // Doubling stops at slow_start_until: the measurements found 16 transfers fine and 24
  // throttled into connect time-outs, so above 16 (max_transfers raised) probes are +1.
  double slow_start_factor = 2.0;
  int slow_start_until = 16;
  std::chrono::milliseconds slow_start_measure{2000};
  // Many small files give a measurement quickly: while doubling, the caller samples every
  // `slow_start_sample` (next_interval), `slow_start_completions` files completed in clean
  // intervals of at least that length in all are enough, and a doubling settles in
  // `slow_start_settle` (its streams open on connections already made). A count of 32 varies by
  // about +-18%: a doubling that pays brings +60 to +100% and is kept, one that brings nothing is
  // kept by chance about one time in ten, and probes down undo it later. A mirror of small files
  // at 20 ms RTT then reaches 16 in about 1 s (was 2 s with 64 files in 500 ms, 8 s before), and
  // the ramp was a tenth of a 6,000-file pass (docs/benchmarks.md).
  std::chrono::milliseconds slow_start_sample{250};
  int slow_start_completions = 32;
  std::chrono::milliseconds slow_start_settle{250};
  // Large files give no completions to count, so slow start judges on bytes: the limit it starts
  // from is measured on `slow_start_early`, and a doubling of connections (not streams) that
  // brings at least `slow_start_decisive` times its bar is kept after that long too (a doubling
  // under a per-connection limit brings +100%, a second's noise is about +-20%); the rest wait
  // for slow_start_measure. On files of hundreds of MB behind a paced path this cut the ramp from 8
  // to 18 connections from 6 s to about 3 (docs/benchmarks.md, scenario 6).
  std::chrono::milliseconds slow_start_early{1000};
  double slow_start_decisive = 2.0;
  // The interval the caller samples at after slow start.
  std::chrono::milliseconds interval{2000};
  // A probe whose gain is within close_call of the bar is measured longer, up to max_measures
  // times `measure` in all, before it is judged.
  double close_call = 0.025;
  int max_measures = 3;
  // After a probe that came back, stay this long before the next one (which goes the other way);
  // doubled for each further one in a row, up to `probe_hold_max`.
  std::chrono::seconds probe_hold{30};
  std::chrono::seconds probe_hold_max{120};

  // Throttling: limit * cut_factor (at least one less, never below min), then no probe for
  // `cooldown`. resets + stalls count as throttling from `min_breakage` per interval; a median
  // per-transfer rate below `collapse_ratio` of its running average counts too.
  double cut_factor = 0.7;
  std::chrono::seconds cooldown{30};
  int min_breakage = 2;
  double collapse_ratio = 0.25;
  // The limit that drew throttling is not tried again for this long (probes stop one below).
  std::chrono::seconds ceiling_memory{600};
  // A signal arrives this long after the attempt that caused it, so it does not cut again for
  // attempts made before the last cut.
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{60};
};

enum class ControlPhase {
  SlowStart,  // from the start until the first raise that does not pay: +slow_start_step
  Increase,   // a +1 probe under test, or raises that keep paying
  Decrease,   // a -1 probe under test, or lowerings that keep costing nothing
  Hold,       // after a probe that came back: waiting for probe_after
  Backoff,    // after a cut: cooling down, then probing up
};
std::string_view to_string(ControlPhase phase);

struct ControllerState {
  int limit = 0;
  ControlPhase phase = ControlPhase::SlowStart;
  // The probe under test: the limit before it and the throughput measured there (bytes/s).
  // tested_from == 0 when nothing is under test; base_rate == 0 when not measured yet.
  int tested_from = 0;
  double base_rate = 0;
  bool probe_down_next = false;  // the next probe goes down
  double kept_gain = 0;          // what the last kept +1 brought; reported with the next one
  // Clean intervals at exactly the current limit, accumulated toward one measurement.
  std::int64_t window_bytes = 0;
  std::chrono::milliseconds window_duration{0};
  int window_completions = 0;
  int extensions = 0;                // times the probe under test was too close to call
  double transfer_rate_average = 0;  // running average of Sample::transfer_rate; 0 = none yet
  int failed_probes = 0;
  int ceiling = 0;  // the limit that last drew throttling; 0 = none
  ControlClock::time_point ceiling_until{};
  // The connection bound connect time-outs set (ControllerParams::connection_cut); 0 = none.
  int connection_ceiling = 0;
  ControlClock::time_point connection_ceiling_until{};
  std::string connection_reason;          // "18 connections: connect time-outs at 20"; empty = none
  ControlClock::time_point changed_at{};  // when the limit last changed (or the start)
  ControlClock::time_point clean_from{};  // intervals starting earlier are not measured
  ControlClock::time_point probe_after{};  // no probe before this (probe hold, cool-down)
  ControlClock::time_point last_cut{};
  bool cut_before = false;  // last_cut is meaningful
  std::string reason;       // why the limit is what it is
};

struct Decision {
  int limit = 0;
  // Why the limit is what it is: the last change ("cut to 9 after 3× 429", "raised to 12: +8%
  // throughput"), or what confirmed it ("held at 12: throughput flat (+1% at 13)").
  std::string reason;
  bool changed = false;  // limit differs from the last decision's: apply it, log the reason
  std::optional<std::chrono::seconds> hold_host;  // hold every request to the host this long
};

ControllerState initial_controller_state(const ControllerParams& params,
                                         ControlClock::time_point now);

struct ControlStep {
  ControllerState state;
  Decision decision;
};
// The policy: the state after one more interval ending at `now`, and what to do.
ControlStep control_step(const ControllerParams& params, ControllerState state,
                         const Sample& sample, ControlClock::time_point now);
// The most connections the limit may use now: max_connections, or the bound connect time-outs
// set while it is remembered; 0 when connections are not modelled.
int connection_bound(const ControllerParams& params, const ControllerState& state,
                     ControlClock::time_point now);

// How `requests` in flight ride on at most `bound` connections: one request per connection up to
// the bound, then the same number of streams on each (bound <= 0: no bound, one each).
struct ConnectionPlan {
  int connections = 1;
  int streams = 1;  // per connection
  bool operator==(const ConnectionPlan&) const = default;
};
ConnectionPlan connection_plan(int requests, int bound);
// The plan to give curl while `open` connections are open (or opening). curl puts a request on
// any open connection with a stream to spare before it opens another, so at the end of a mirror,
// as connections close, the requests left pile up as streams on the few still open: under a
// per-connection limit half the rate or less. Streams beyond one wait for every connection.
ConnectionPlan fill_connections_first(ConnectionPlan plan, int open);

// How long the caller's next interval should be: slow_start_sample during slow start, so that many
// small files can end a measurement early; `interval` after.
std::chrono::milliseconds next_interval(const ControllerParams& params,
                                        const ControllerState& state);

// The state and its parameters in one place, for the scheduler's owner and for tests.
class ConcurrencyController {
public:
  ConcurrencyController(const ControllerParams& params, ControlClock::time_point now)
      : params_(params), state_(initial_controller_state(params, now)) {}

  Decision observe(const Sample& sample, ControlClock::time_point now) {
    auto step = control_step(params_, std::move(state_), sample, now);
    state_ = std::move(step.state);
    return std::move(step.decision);
  }

  int limit() const { return state_.limit; }
  int connection_bound(ControlClock::time_point now) const {
    return pnsync::connection_bound(params_, state_, now);
  }
  std::chrono::milliseconds next_interval() const { return pnsync::next_interval(params_, state_); }
  const ControllerState& state() const { return state_; }
  const ControllerParams& params() const { return params_; }

private:
  ControllerParams params_;
  ControllerState state_;
};

}  // namespace pnsync
