// SPDX-License-Identifier: MIT
#include "daemon/schedule/concurrency_controller.hpp"

#include <algorithm>
#include <climits>
#include <cmath>

namespace pnsync {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using TimePoint = ControlClock::time_point;

// Weight of the newest interval in the running average of the per-transfer rate.
constexpr double kTransferRateWeight = 0.3;
// Weight of the newest measurement in a held limit's throughput: about the last four count, which
// brings the noise of a probe's base to under half that of one measurement.
constexpr double kBaseWeight = 0.25;

std::string percent(double fraction) {
  const long rounded = std::lround(fraction * 100);
  return (rounded >= 0 ? "+" : "") + std::to_string(rounded) + "%";
}

// "3× 429, 1× connect time-out"
std::string describe(const ThrottleSignals& signals) {
  std::string text;
  const auto add = [&text](int count, const char* what) {
    if (count <= 0) return;
    if (!text.empty()) text += ", ";
    text += std::to_string(count) + "× " + what;
  };
  add(signals.http_429, "429");
  add(signals.http_503, "503");
  add(signals.connect_timeouts, "connect time-out");
  add(signals.resets, "reset");
  add(signals.stalls, "stall");
  return text;
}

int total(const ThrottleSignals& s) {
  return s.http_429 + s.http_503 + s.connect_timeouts + s.resets + s.stalls;
}

// The limits the controller may choose form a ladder: every number up to the connection bound
// (one more connection each), then whole multiples of it (one more stream on every connection).
// Without a connection model every number is a rung.
int rung_bound(const ControllerParams& params, const ControllerState& state, TimePoint now) {
  const int bound = connection_bound(params, state, now);
  return bound > 0 ? bound : INT_MAX;
}

// The highest rung at most `limit` (at least 1).
int rung_at_most(int limit, int bound) {
  if (limit <= bound) return std::max(1, limit);
  return limit / bound * bound;
}

// The rung above `limit`.
int rung_above(int limit, int bound) {
  if (limit < bound) return limit + 1;
  return (limit / bound + 1) * bound;
}

// The rung below `limit` (0 below 1).
int rung_below(int limit, int bound) {
  if (limit <= bound) return limit - 1;
  return (limit - 1) / bound * bound;
}

// The highest rung the connections allowed now can carry: `max`, and no more streams on each
// than streams_per_connection.
int ladder_top(const ControllerParams& params, int rungs) {
  int top = params.max;
  if (params.streams_per_connection > 0 && rungs < INT_MAX / params.streams_per_connection)
    top = std::min(top, rungs * params.streams_per_connection);
  return rung_at_most(top, rungs);
}

// The highest limit a probe may reach now: ladder_top, or one rung below the limit that last
// drew throttling while that is remembered.
int raise_bound(const ControllerParams& params, const ControllerState& state, TimePoint now) {
  const int rungs = rung_bound(params, state, now);
  int bound = ladder_top(params, rungs);
  if (state.ceiling > 0 && now < state.ceiling_until)
    bound = std::min(bound, rung_at_most(rung_below(state.ceiling, rungs), rungs));
  return std::max(bound, params.min);
}

void reset_window(ControllerState& state) {
  state.window_bytes = 0;
  state.window_duration = milliseconds{0};
  state.window_completions = 0;
  state.extensions = 0;
}

void set_limit(const ControllerParams& params, ControllerState& state, int limit, TimePoint now,
               Decision& decision) {
  // A doubling's new transfers are streams on connections already open (HTTP/2) or a handshake
  // of a few round trips away: they settle sooner than a change after a cut, whose old transfers
  // are still draining.
  const bool still_doubling = state.phase == ControlPhase::SlowStart && limit > state.limit;
  state.limit = limit;
  state.changed_at = now;
  state.clean_from =
      std::max(state.clean_from, now + (still_doubling ? params.slow_start_settle : params.settle));
  reset_window(state);
  decision.changed = true;
}

// Slow start goes on from `limit` while below both slow_start_until and the raise bound.
bool doubling(const ControllerParams& params, const ControllerState& state, TimePoint now) {
  return state.phase == ControlPhase::SlowStart && state.limit < params.slow_start_until &&
         state.limit < raise_bound(params, state, now);
}

// The next slow-start step from `limit`: limit * slow_start_factor, at least one rung more, at
// most slow_start_until.
int slow_start_next(const ControllerParams& params, const ControllerState& state, int limit,
                    TimePoint now) {
  const int rungs = rung_bound(params, state, now);
  const int next = static_cast<int>(std::ceil(limit * params.slow_start_factor));
  return std::max(rung_above(limit, rungs),
                  rung_at_most(std::min(next, params.slow_start_until), rungs));
}

// How long a measurement at the current limit lasts: short while doubling, where the steps are
// large and so are the gains they must show; full length from where the next probe is +-1.
milliseconds measure_for(const ControllerParams& params, const ControllerState& state,
                         TimePoint now) {
  return doubling(params, state, now) ? params.slow_start_measure : params.measure;
}

// The gain `high` transfers must bring over `low` to earn their place: `efficiency` of an
// average transfer for each new connection, `stream_efficiency` for each new stream on the
// connections there are.
double needed_gain(const ControllerParams& params, int low, int high, int connection_bound) {
  const int connections = std::min(high, connection_bound) - std::min(low, connection_bound);
  const int streams = high - low - connections;
  return std::max(params.min_gain,
                  (params.efficiency * connections + params.stream_efficiency * streams) /
                      static_cast<double>(low));
}

// A slow-start window of slow_start_early that needs no more: the base a doubling is judged
// against, or a doubling whose gain is slow_start_decisive times its bar.
bool decisive_early(const ControllerParams& params, const ControllerState& state, TimePoint now) {
  if (!doubling(params, state, now) || state.extensions > 0 ||
      state.window_duration < params.slow_start_early)
    return false;
  const bool tested = state.tested_from > 0 && state.base_rate > 0;
  if (!tested) return true;
  // More streams on the connections there are bring little on a per-connection limit, and what a
  // second measured while the last connections were still opening is enough to mislead.
  const int bound = rung_bound(params, state, now);
  if (state.tested_from >= state.limit || state.limit > bound) return false;
  const double rate = static_cast<double>(state.window_bytes) /
                      std::chrono::duration<double>(state.window_duration).count();
  const double need = needed_gain(params, state.tested_from, state.limit, bound);
  return rate / state.base_rate - 1 >= params.slow_start_decisive * need;
}

// Why `high` transfers did not earn their place: "throughput flat (+1% at 13)".
std::string shortfall(const ControllerParams& params, double gain, int high) {
  const std::string at = " (" + percent(gain) + " at " + std::to_string(high) + ")";
  if (gain <= -params.min_gain) return "throughput fell" + at;
  if (gain < params.min_gain) return "throughput flat" + at;
  return "only " + percent(gain) + " throughput at " + std::to_string(high);
}

// Starts a probe from the current limit, whose throughput is `rate_here`, to `to`.
void probe(const ControllerParams& params, ControllerState& state, int to, double rate_here,
           const std::string& why, TimePoint now, Decision& decision) {
  const bool up = to > state.limit;
  state.tested_from = state.limit;
  state.base_rate = rate_here;
  if (state.phase != ControlPhase::SlowStart || !up)
    state.phase = up ? ControlPhase::Increase : ControlPhase::Decrease;
  state.reason = (up ? "raised to " : "lowered to ") + std::to_string(to) + ": " + why;
  set_limit(params, state, to, now, decision);
}

// Stay at `limit` (moving back there if a probe left it) and wait before the next probe. The
// wait is probe_hold, doubled for each probe in a row that came back, at most probe_hold_max.
void hold(const ControllerParams& params, ControllerState& state, int limit, std::string reason,
          bool came_back, TimePoint now, Decision& decision) {
  seconds wait = params.probe_hold;
  if (came_back) {
    for (int i = 0; i < state.failed_probes && wait < params.probe_hold_max; ++i) wait *= 2;
    ++state.failed_probes;
  } else {
    state.failed_probes = 0;
  }
  state.probe_after = now + std::min(wait, params.probe_hold_max);
  state.phase = ControlPhase::Hold;
  state.tested_from = 0;
  state.base_rate = 0;
  state.reason = std::move(reason);
  if (limit != state.limit) set_limit(params, state, limit, now, decision);
}

// A complete measurement at the current limit: judge the probe under test, or start the next.
void judge(const ControllerParams& params, ControllerState& state, double rate, bool can_probe,
           TimePoint now, Decision& decision) {
  const int bound = raise_bound(params, state, now);
  const int rungs = rung_bound(params, state, now);
  const int limit = state.limit;
  const int from = state.tested_from;
  const bool tested = from > 0 && state.base_rate > 0;
  // What the higher of the two limits brought over the lower, and what it had to bring.
  const double gain = !tested        ? 0
                      : from < limit ? rate / state.base_rate - 1
                                     : state.base_rate / rate - 1;
  const double need =
      tested ? needed_gain(params, std::min(from, limit), std::max(from, limit), rungs) : 0;
  if (tested && std::abs(gain - need) < params.close_call &&
      state.extensions + 1 < params.max_measures) {
    // Too close to call: measure longer (the noise shrinks with the square root of the time).
    ++state.extensions;
    return;
  }
  reset_window(state);

  if (tested && from < limit) {
    // Raised from `from`: kept when the new transfers paid their way.
    if (gain < need) {
      state.probe_down_next = true;
      hold(params, state, from,
           "held at " + std::to_string(from) + ": " + shortfall(params, gain, limit),
           /*came_back=*/true, now, decision);
      return;
    }
    state.failed_probes = 0;
    if (can_probe && doubling(params, state, now)) {
      probe(params, state, std::min(bound, slow_start_next(params, state, limit, now)), rate,
            percent(gain) + " throughput", now, decision);
      return;
    }
    // Out of slow start the next step waits for a fresh measurement here: the one just taken
    // won the test, so it is more likely high than low, and would make the next step look worse.
    state.tested_from = 0;
    state.base_rate = 0;
    state.kept_gain = gain;
    // Slow start is over at slow_start_until (next: +1) and at the bound (next: -1).
    if (state.phase == ControlPhase::SlowStart && !doubling(params, state, now))
      state.phase = ControlPhase::Increase;
    if (limit >= bound && state.phase == ControlPhase::Increase) state.phase = ControlPhase::Hold;
    return;
  }

  if (tested && from > limit) {
    // Lowered from `from`: undone when the transfer taken away had paid its way.
    if (gain >= need) {
      state.probe_down_next = false;
      hold(params, state, from,
           "raised to " + std::to_string(from) + ": " + percent(gain) + " throughput",
           /*came_back=*/true, now, decision);
      return;
    }
    // Otherwise the lower limit stays, for the reason a raise to `from` would not have been
    // kept, and after a fresh measurement here the next probe goes lower still.
    state.failed_probes = 0;
    state.tested_from = 0;
    state.base_rate = 0;
    state.probe_down_next = true;
    state.reason = "held at " + std::to_string(limit) + ": " + shortfall(params, gain, from);
    return;
  }

  // Nothing under test: smooth this limit's throughput over the measurements since it settled
  // (the base the next probe is judged against), and probe when the time has come: up, unless
  // the last probe up came back or a lowering was kept.
  state.base_rate =
      state.base_rate > 0 ? (1 - kBaseWeight) * state.base_rate + kBaseWeight * rate : rate;
  if (!can_probe) return;
  const bool up = limit < bound && (!state.probe_down_next || limit <= params.min);
  if (up) {
    const bool slow_start = doubling(params, state, now);
    const std::string why = slow_start ? "slow start"
                            : state.phase == ControlPhase::Increase
                                ? percent(state.kept_gain) + " throughput"
                                : "probing";
    probe(params, state,
          std::min(bound, slow_start ? slow_start_next(params, state, limit, now)
                                     : rung_above(limit, rungs)),
          state.base_rate, why, now, decision);
  } else if (limit > params.min) {
    probe(params, state, std::max(params.min, rung_below(limit, rungs)), state.base_rate, "probing",
          now, decision);
  }
}

// Multiplicative decrease: limit * cut_factor, at least one less, never below min; no probe for
// the cool-down, and the limit that drew it is remembered.
void cut(const ControllerParams& params, ControllerState& state, const std::string& why,
         std::optional<int> admitted, TimePoint cooldown_from, TimePoint now, Decision& decision) {
  const int from = state.limit;
  const int rungs = rung_bound(params, state, now);
  int target =
      std::min(rung_below(from, rungs), static_cast<int>(std::floor(from * params.cut_factor)));
  // What the server was serving when it refused is what it takes: no lower than that.
  if (admitted) target = std::max(target, std::min(*admitted, rung_below(from, rungs)));
  const int to = std::max(params.min, rung_at_most(target, rungs));
  state.phase = ControlPhase::Backoff;
  state.tested_from = 0;
  state.base_rate = 0;
  state.failed_probes = 0;
  state.probe_down_next = false;
  state.last_cut = now;
  state.cut_before = true;
  state.ceiling = from;
  state.ceiling_until = now + params.ceiling_memory;
  state.probe_after = std::max(state.probe_after, cooldown_from + params.cooldown);
  reset_window(state);
  if (to != from) {
    state.reason = "cut to " + std::to_string(to) + why;
    set_limit(params, state, to, now, decision);
  } else {
    state.reason = "held at " + std::to_string(to) + why;
  }
}

// Connect time-outs at the connections in use: the bound drops to those that did connect (at
// least one below, at most by connection_cut) and holds for ceiling_memory; the requests keep
// their streams per connection on the connections left. Not a cut of the throughput: the
// connections that did connect deliver as before.
void lower_connections(const ControllerParams& params, ControllerState& state, int timeouts,
                       TimePoint now, Decision& decision) {
  const int at = std::min(state.limit, connection_bound(params, state, now));
  const int least = std::max(1, static_cast<int>(std::floor(at * params.connection_cut)));
  const int to = std::max({1, least, std::min(at - 1, at - timeouts)});
  const int streams = (state.limit + at - 1) / at;
  const int limit = std::clamp(state.limit <= at ? std::min(state.limit, to) : streams * to,
                               params.min, std::max(params.min, ladder_top(params, to)));
  state.connection_ceiling = to;
  state.connection_ceiling_until = now + params.ceiling_memory;
  state.connection_reason = std::to_string(to) + (to == 1 ? " connection" : " connections") +
                            ": connect time-outs at " + std::to_string(at);
  state.phase = ControlPhase::Hold;
  state.tested_from = 0;
  state.base_rate = 0;
  state.failed_probes = 0;
  state.probe_down_next = false;
  state.last_cut = now;
  state.cut_before = true;
  state.probe_after = std::max(state.probe_after, now + params.cooldown);
  reset_window(state);
  if (limit != state.limit) {
    state.reason = "lowered to " + std::to_string(limit) + ": connect time-outs at " +
                   std::to_string(at) + " connections";
    set_limit(params, state, limit, now, decision);
  }
}

}  // namespace

int connection_bound(const ControllerParams& params, const ControllerState& state, TimePoint now) {
  if (params.max_connections <= 0) return 0;
  int bound = params.max_connections;
  if (state.connection_ceiling > 0 && now < state.connection_ceiling_until)
    bound = std::min(bound, state.connection_ceiling);
  return std::max(1, bound);
}

ConnectionPlan connection_plan(int requests, int bound) {
  requests = std::max(1, requests);
  if (bound <= 0) return {requests, 1};
  const int connections = std::min(requests, bound);
  return {connections, (requests + connections - 1) / connections};
}

ConnectionPlan fill_connections_first(ConnectionPlan plan, int open) {
  if (open < plan.connections) plan.streams = 1;
  return plan;
}

std::string_view to_string(ControlPhase phase) {
  switch (phase) {
    case ControlPhase::SlowStart:
      return "slow start";
    case ControlPhase::Increase:
      return "increase";
    case ControlPhase::Decrease:
      return "decrease";
    case ControlPhase::Hold:
      return "hold";
    case ControlPhase::Backoff:
      return "backoff";
  }
  return "?";
}

milliseconds next_interval(const ControllerParams& params, const ControllerState& state) {
  return state.phase == ControlPhase::SlowStart ? params.slow_start_sample : params.interval;
}

ControllerState initial_controller_state(const ControllerParams& params, TimePoint now) {
  ControllerState state;
  state.limit = std::clamp(params.initial, params.min, std::max(params.min, params.max));
  state.changed_at = now;
  // The first connection is still being opened: a TLS handshake is a few round trips, so the
  // short settle of a doubling is enough (the first interval is not measured in any case).
  state.clean_from = now + params.slow_start_settle;
  state.reason = "started at " + std::to_string(state.limit);
  return state;
}

ControlStep control_step(const ControllerParams& params, ControllerState state,
                         const Sample& sample, TimePoint now) {
  Decision decision;
  const auto finish = [&]() -> ControlStep {
    decision.limit = state.limit;
    decision.reason = state.reason;
    return {std::move(state), std::move(decision)};
  };
  const TimePoint start = now - sample.duration;
  if (state.connection_ceiling > 0 && now >= state.connection_ceiling_until) {
    // Remembered long enough: the server's load may have changed; probes may go up again.
    state.connection_ceiling = 0;
    state.connection_reason.clear();
  }
  // Slow start samples more often (next_interval); its samples are long enough by definition.
  const auto shortest =
      state.phase == ControlPhase::SlowStart ? params.slow_start_sample : params.min_duration;
  const bool clean = start >= state.clean_from && sample.duration >= shortest;

  // Retry-After speaks for the whole host. Nothing new starts while it lasts, so intervals up to
  // its end say nothing about the limit, and the cool-down counts from its end.
  TimePoint hold_end = now;
  if (sample.retry_after) {
    decision.hold_host = *sample.retry_after;
    hold_end = now + *sample.retry_after;
    state.clean_from = std::max(state.clean_from, hold_end + params.settle);
    state.probe_after = std::max(state.probe_after, hold_end + params.cooldown);
  }

  // Signals count against the present limit only when the attempts behind them were made after
  // the last cut had taken effect: a 429 answers at once, a connect time-out comes connect_timeout
  // after its attempt, a stall stall_timeout after the last byte. Older ones answer the limit
  // already cut: they only keep the cool-down going.
  const auto fresh = [&](seconds lag) {
    return !state.cut_before || start - lag >= state.last_cut + params.settle;
  };
  const ThrottleSignals& all = sample.signals;
  ThrottleSignals counted;
  counted.http_429 = fresh(seconds{0}) ? all.http_429 : 0;
  counted.http_503 = fresh(seconds{0}) ? all.http_503 : 0;
  counted.resets = fresh(seconds{0}) ? all.resets : 0;
  counted.connect_timeouts = fresh(params.connect_timeout) ? all.connect_timeouts : 0;
  counted.stalls = fresh(params.stall_timeout) ? all.stalls : 0;

  // With connections in the model a connect time-out says "one connection too many", not
  // "too much load": it lowers the connection bound and leaves the rest of the policy alone.
  int ceiling_signals = 0;
  if (params.max_connections > 0) {
    ceiling_signals = counted.connect_timeouts;
    counted.connect_timeouts = 0;
    if (ceiling_signals > 0) lower_connections(params, state, ceiling_signals, now, decision);
  }

  std::string why;
  if (counted.http_429 + counted.http_503 + counted.connect_timeouts > 0 ||
      counted.resets + counted.stalls >= params.min_breakage) {
    why = " after " + describe(counted);
  } else if (clean && sample.transfer_rate && state.transfer_rate_average > 0 &&
             *sample.transfer_rate < params.collapse_ratio * state.transfer_rate_average) {
    why = ": per-transfer rate fell " +
          percent(1 - *sample.transfer_rate / state.transfer_rate_average).substr(1);
    // The slower rate is the new normal: a server that stays slow costs one cut, not a cascade.
    state.transfer_rate_average = *sample.transfer_rate;
  }
  if (!why.empty()) {
    if (sample.retry_after)
      why += " (Retry-After " + std::to_string(sample.retry_after->count()) + "s)";
    const bool refused = counted.http_429 + counted.http_503 > 0;
    cut(params, state, why, refused ? sample.admitted_at_refusal : std::nullopt, hold_end, now,
        decision);
    return finish();
  }
  if (total(counted) + ceiling_signals < total(all)) {
    // Echoes of the limit already cut: keep cooling down, and do not measure a disturbed interval.
    state.probe_after = std::max(state.probe_after, now + params.cooldown);
    return finish();
  }
  // Hanging connects held slots: this interval measured fewer connections than the limit.
  if (ceiling_signals > 0) return finish();

  if (clean && sample.transfer_rate) {
    state.transfer_rate_average = state.transfer_rate_average > 0
                                      ? (1 - kTransferRateWeight) * state.transfer_rate_average +
                                            kTransferRateWeight * *sample.transfer_rate
                                      : *sample.transfer_rate;
  }

  // Measure the limit only on clean intervals with enough data in which every slot was busy:
  // fewer active transfers (the queue ran dry, the host is held) or more (still draining after a
  // cut) would measure something else.
  const bool enough =
      sample.bytes >= params.min_bytes || sample.completed >= params.min_completions;
  if (!clean || !enough || sample.active != state.limit) return finish();
  state.window_bytes += sample.bytes;
  state.window_duration += sample.duration;
  state.window_completions += sample.completed;
  const bool many_files = doubling(params, state, now) && state.extensions == 0 &&
                          state.window_completions >= params.slow_start_completions &&
                          state.window_duration >= params.slow_start_sample;
  if ((!many_files && !decisive_early(params, state, now) &&
       state.window_duration < measure_for(params, state, now) * (state.extensions + 1)) ||
      state.window_duration <= milliseconds{0})
    return finish();
  const double rate = static_cast<double>(state.window_bytes) /
                      std::chrono::duration<double>(state.window_duration).count();
  // A probe needs work to fill the slots; near the end of the mirror there is none.
  judge(params, state, rate, sample.queued > 0 && now >= state.probe_after, now, decision);
  return finish();
}

}  // namespace pnsync
