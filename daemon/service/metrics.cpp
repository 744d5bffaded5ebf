// SPDX-License-Identifier: MIT
#include "daemon/service/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <utility>
#include <vector>

namespace pnsync::metrics {

std::string_view to_string(RetryReason reason) {
  switch (reason) {
    case RetryReason::Network:
      return "network";
    case RetryReason::Timeout:
      return "timeout";
    case RetryReason::ServerError:
      return "server_error";
    case RetryReason::RateLimited:
      return "rate_limited";
    case RetryReason::Checksum:
      return "checksum";
  }
  return "unknown";
}

void LatencyHistogram::observe(std::chrono::duration<double> latency) {
  const double seconds = latency.count();
  // le is "less than or equal": a latency equal to a bound belongs to that bound's bucket.
  const auto bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
  if (bucket != kBounds.end()) ++per_bucket_[static_cast<std::size_t>(bucket - kBounds.begin())];
  ++count_;
  sum_seconds_ += seconds;
}

MirrorCounters& Metrics::mirror(std::string_view name) {
  auto it = mirrors.find(name);
  if (it == mirrors.end()) it = mirrors.emplace(std::string(name), MirrorCounters{}).first;
  return it->second;
}

namespace detail {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Whole numbers below 2^53 are exact in a double: print them as integers, which is what a reader
  // (and the golden file) expects of a byte count.
  if (std::trunc(value) == value && std::fabs(value) < 9007199254740992.0)
    return std::to_string(static_cast<std::int64_t>(value));
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc{} ? std::string(buffer, end) : "NaN";
}

}  // namespace detail

namespace {

using Label = std::pair<std::string_view, std::string_view>;

// Writes families in the order they are declared; every sample must follow its family's header.
class Exposition {
public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += detail::escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [label, text] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += label;
        out_ += "=\"";
        out_ += detail::escape_label_value(text);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += detail::format_value(value);
    out_ += '\n';
  }

  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

double flag(bool value) {
  return value ? 1 : 0;
}
double number(std::int64_t value) {
  return static_cast<double>(value);
}
double number(std::uint64_t value) {
  return static_cast<double>(value);
}

constexpr store::FileState kFileStates[] = {store::FileState::Pending, store::FileState::Partial,
                                            store::FileState::Verified, store::FileState::Failed};
// protocol::MirrorStatus::state's documented values, each rendered so that a series exists (at 0)
// before the mirror first enters it.
constexpr std::string_view kMirrorStates[] = {"listing", "syncing", "idle",
                                              "paused",  "failed",  "stopped"};

void render_daemon(Exposition& out, const protocol::DaemonStatus& status) {
  out.family("pnsync_build_info", "gauge", "Always 1; the version label says which pnsyncd runs.");
  out.sample("pnsync_build_info", {{"version", status.version}}, 1);

  out.family("pnsync_start_time_seconds", "gauge",
             "When pnsyncd started, in seconds since the Unix epoch.");
  out.sample("pnsync_start_time_seconds", {}, number(status.started_unix));

  out.family("pnsync_paused", "gauge", "1 while every mirror is paused by `pnsyncctl pause`.");
  out.sample("pnsync_paused", {}, flag(status.paused));

  out.family("pnsync_transfers_limit", "gauge",
             "Files allowed to download at once, as now in force.");
  out.sample("pnsync_transfers_limit", {}, status.transfers);

  out.family("pnsync_transfers_adaptive", "gauge",
             "1 when the transfer limit adapts to the server (transfers: auto).");
  out.sample("pnsync_transfers_adaptive", {}, flag(status.transfers_auto));

  out.family("pnsync_transfers_max", "gauge", "The ceiling of the adaptive limit (max_transfers).");
  out.sample("pnsync_transfers_max", {}, status.max_transfers);

  const auto& connections = status.connections;
  out.family("pnsync_connections_open", "gauge", "TCP connections open to the server.");
  out.sample("pnsync_connections_open", {}, connections.open);
  out.family("pnsync_connections_limit", "gauge",
             "The most connections pnsync opens now (max_connections, or fewer after connect "
             "time-outs).");
  out.sample("pnsync_connections_limit", {}, connections.limit);
  out.family("pnsync_connections_max", "gauge", "max_connections from the configuration.");
  out.sample("pnsync_connections_max", {}, connections.max);
  out.family("pnsync_streams_per_connection", "gauge",
             "Requests one connection carries at once (HTTP/2 streams).");
  out.sample("pnsync_streams_per_connection", {}, connections.streams_per_connection);
  out.family("pnsync_requests_in_flight", "gauge", "File and listing requests running now.");
  out.sample("pnsync_requests_in_flight", {}, connections.requests_in_flight);
  out.family("pnsync_connection_rate_bytes_per_second", "gauge",
             "Download rate divided by the connections open.");
  out.sample("pnsync_connection_rate_bytes_per_second", {},
             connections.rate_per_connection_bytes_per_s);

  out.family("pnsync_bandwidth_limit_bytes_per_second", "gauge",
             "Download rate limit over all mirrors; 0 means none.");
  out.sample("pnsync_bandwidth_limit_bytes_per_second", {}, number(status.bandwidth_limit));
}

void render_counters(Exposition& out, const Metrics& metrics) {
  out.family("pnsync_fetched_bytes_total", "counter",
             "Response body bytes received for files, including bytes later discarded by a "
             "retry or a checksum mismatch.");
  for (const auto& [name, mirror] : metrics.mirrors)
    out.sample("pnsync_fetched_bytes_total", {{"mirror", name}}, number(mirror.fetched_bytes));

  out.family("pnsync_files", "gauge", "Files of the mirror known to the state database, by state.");
  for (const auto& [name, mirror] : metrics.mirrors)
    for (const store::FileState state : kFileStates)
      out.sample("pnsync_files", {{"mirror", name}, {"state", store::to_string(state)}},
                 number(mirror.files_by_state[static_cast<std::size_t>(state)]));

  out.family("pnsync_last_success_timestamp_seconds", "gauge",
             "End of the last pass that left every selected file verified, in seconds since the "
             "Unix epoch; 0 until the first one.");
  for (const auto& [name, mirror] : metrics.mirrors)
    out.sample("pnsync_last_success_timestamp_seconds", {{"mirror", name}},
               number(mirror.last_success_unix.value_or(0)));

  out.family("pnsync_retries_total", "counter", "File requests tried again, by reason.");
  for (std::size_t i = 0; i < kRetryReasons; ++i)
    out.sample("pnsync_retries_total", {{"reason", to_string(static_cast<RetryReason>(i))}},
               number(metrics.retries[i]));

  out.family("pnsync_auth_failures_total", "counter",
             "Requests answered 401; each stops its mirror until the credentials are fixed.");
  out.sample("pnsync_auth_failures_total", {}, number(metrics.auth_failures));

  out.family("pnsync_transfers_active", "gauge", "File transfers with a request in flight.");
  out.sample("pnsync_transfers_active", {}, number(metrics.transfers_active));

  const LatencyHistogram& latency = metrics.request_latency;
  out.family("pnsync_request_latency_seconds", "histogram",
             "Time from starting an HTTP request to the end of its response headers.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    cumulative += latency.per_bucket()[i];
    const std::string bound = detail::format_value(LatencyHistogram::kBounds[i]);
    out.sample("pnsync_request_latency_seconds_bucket", {{"le", bound}}, number(cumulative));
  }
  out.sample("pnsync_request_latency_seconds_bucket", {{"le", "+Inf"}}, number(latency.count()));
  out.sample("pnsync_request_latency_seconds_sum", {}, latency.sum_seconds());
  out.sample("pnsync_request_latency_seconds_count", {}, number(latency.count()));
}

void render_mirrors(Exposition& out, const protocol::DaemonStatus& status) {
  std::vector<const protocol::MirrorStatus*> mirrors;
  for (const auto& mirror : status.mirrors) mirrors.push_back(&mirror);
  std::sort(mirrors.begin(), mirrors.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });

  out.family("pnsync_mirror_info", "gauge", "Always 1; labels name each configured mirror.");
  for (const auto* m : mirrors)
    out.sample("pnsync_mirror_info", {{"mirror", m->name}, {"dest", m->dest}}, 1);

  out.family("pnsync_mirror_state", "gauge", "1 for the state the mirror is in, 0 for the others.");
  for (const auto* m : mirrors) {
    for (const std::string_view state : kMirrorStates)
      out.sample("pnsync_mirror_state", {{"mirror", m->name}, {"state", state}},
                 flag(m->state == state));
    // A state this build does not list is still shown rather than lost.
    if (std::find(std::begin(kMirrorStates), std::end(kMirrorStates), m->state) ==
        std::end(kMirrorStates))
      out.sample("pnsync_mirror_state", {{"mirror", m->name}, {"state", m->state}}, 1);
  }

  out.family("pnsync_mirror_selected_bytes", "gauge",
             "Size of the files selected for the mirror, as far as it is known.");
  for (const auto* m : mirrors)
    out.sample("pnsync_mirror_selected_bytes", {{"mirror", m->name}}, number(m->bytes_total));

  out.family("pnsync_mirror_verified_bytes", "gauge", "Size of the files verified on disk.");
  for (const auto* m : mirrors)
    out.sample("pnsync_mirror_verified_bytes", {{"mirror", m->name}}, number(m->bytes_verified));

  out.family("pnsync_mirror_listings_pending", "gauge",
             "Directory listings still to fetch in this pass.");
  for (const auto* m : mirrors)
    out.sample("pnsync_mirror_listings_pending", {{"mirror", m->name}}, number(m->dirs_pending));

  out.family("pnsync_mirror_bandwidth_limit_bytes_per_second", "gauge",
             "The mirror's own download rate limit; 0 means none.");
  for (const auto* m : mirrors)
    out.sample("pnsync_mirror_bandwidth_limit_bytes_per_second", {{"mirror", m->name}},
               number(m->bandwidth_limit));

  out.family("pnsync_mirror_next_pass_timestamp_seconds", "gauge",
             "When the next pass is due, in seconds since the Unix epoch; absent while one runs.");
  for (const auto* m : mirrors)
    if (m->next_sync_unix)
      out.sample("pnsync_mirror_next_pass_timestamp_seconds", {{"mirror", m->name}},
                 number(*m->next_sync_unix));
}

}  // namespace

std::string render(const Metrics& metrics, const protocol::DaemonStatus& status) {
  Exposition out;
  render_daemon(out, status);
  render_counters(out, metrics);
  render_mirrors(out, status);
  return out.take();
}

}  // namespace pnsync::metrics
