// SPDX-License-Identifier: MIT
#include "ctl/render.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "common/progress.hpp"
#include "ctl/table.hpp"

namespace pnsync::ctl {
namespace {

constexpr std::size_t kBarCells = 10;

std::string colour(std::string_view text, std::string_view sgr, bool tty) {
  if (!tty) return std::string(text);
  return "\033[" + std::string(sgr) + "m" + std::string(text) + "\033[0m";
}

std::string state_cell(const protocol::MirrorStatus& mirror, bool tty) {
  if (mirror.state == "failed") return colour(mirror.state, "1;31", tty);
  if (mirror.state == "paused") return colour(mirror.state, "33", tty);
  if (mirror.state == "idle") return colour(mirror.state, "32", tty);
  if (mirror.state == "listing" || mirror.state == "syncing")
    return colour(mirror.state, "36", tty);
  return mirror.state;
}

std::string duration(std::int64_t seconds) {
  return format_duration(std::chrono::seconds(std::max<std::int64_t>(seconds, 0)));
}

std::string percent(std::int64_t done, std::int64_t total) {
  if (total <= 0) return "";
  const double share = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  char text[16];
  // One decimal: a large mirror spends days below 1%, and "0%" would look stuck.
  std::snprintf(text, sizeof text, "%.1f%%", std::floor(share * 1000.0) / 10.0);
  return text;
}

std::string rate_cell(double rate) {
  return rate > 0 ? format_rate(rate) : "-";
}

std::string plural(std::int64_t count, std::string_view one, std::string_view many) {
  return group_digits(count) + " " + std::string(count == 1 ? one : many);
}

// "[####------]  39.0%  1.5 GiB of ≥4.3 TiB": the bar scales with the terminal.
std::string bytes_line(const protocol::MirrorStatus& mirror, const RenderOptions& options) {
  const std::size_t cells = std::clamp<std::size_t>(options.width / 3, kBarCells, 40);
  std::string line =
      "  " + progress_bar(mirror.bytes_verified, mirror.bytes_total, cells, options.tty);
  if (const std::string share = percent(mirror.bytes_verified, mirror.bytes_total); !share.empty())
    line += " " + std::string(6 - std::min<std::size_t>(share.size(), 6), ' ') + share;
  line += "  " + format_bytes(mirror.bytes_verified) + " of ";
  if (mirror.bytes_total == 0 && mirror.bytes_total_estimated) return line + "? (listing…)";
  return line + (mirror.bytes_total_estimated ? "≥" : "") + format_bytes(mirror.bytes_total);
}

// The lines under a mirror's row: why it is in its state, when it syncs, what is unsure.
std::vector<std::string> mirror_details(const protocol::MirrorStatus& mirror,
                                        const RenderOptions& options) {
  std::vector<std::string> lines = {bytes_line(mirror, options)};
  if (!mirror.reason.empty()) lines.push_back("  " + mirror.state + ": " + mirror.reason);
  if (!mirror.warning.empty()) lines.push_back("  warning: " + mirror.warning);
  if (mirror.modes_closed > 0)
    lines.push_back("  closed " + group_digits(mirror.modes_closed_world_readable) +
                    " world-readable entries (modes of " +
                    plural(mirror.modes_closed, "adopted entry", "adopted entries") + " set)");
  std::vector<std::string> facts;
  if (mirror.dirs_pending > 0)
    facts.push_back("listing: " + plural(mirror.dirs_pending, "directory", "directories") +
                    " to go");
  if (mirror.files_unknown_size > 0)
    facts.push_back(plural(mirror.files_unknown_size, "file", "files") + " of unknown size");
  if (mirror.last_sync_unix)
    facts.push_back("last sync " + duration(options.now_unix - *mirror.last_sync_unix) + " ago");
  if (mirror.next_sync_unix) {
    const std::int64_t wait = *mirror.next_sync_unix - options.now_unix;
    facts.push_back(wait > 0 ? "next in " + duration(wait) : "next sync due");
  }
  if (mirror.bandwidth_limit > 0)
    facts.push_back("limit " + format_rate(static_cast<double>(mirror.bandwidth_limit)));
  if (!facts.empty()) {
    std::string line = "  ";
    for (std::size_t i = 0; i < facts.size(); ++i) line += (i > 0 ? ", " : "") + facts[i];
    lines.push_back(line);
  }
  return lines;
}

std::string transfers_block(const protocol::MirrorStatus& mirror, const RenderOptions& options) {
  if (mirror.transfers.empty()) return {};
  Table table({{""},
               {""},
               {"", Table::Align::Right},
               {"", Table::Align::Right},
               {"", Table::Align::Right}});
  for (const protocol::TransferStatus& transfer : mirror.transfers) {
    const std::int64_t size = transfer.size.value_or(0);
    // A large file fetched as several ranges says how many: "×4".
    const std::string ranges =
        transfer.ranges > 1 ? " \u00d7" + std::to_string(transfer.ranges) : std::string();
    // A copy found on disk is hashed before it counts: "(checking)", bytes_on_disk hashed so far.
    const std::string checking = transfer.checking ? " (checking)" : std::string();
    table.add_row({transfer.path + ranges + checking,
                   progress_bar(transfer.bytes_on_disk, size, kBarCells, options.tty),
                   percent(transfer.bytes_on_disk, size),
                   format_bytes(transfer.bytes_on_disk) + " / " +
                       (transfer.size ? format_bytes(*transfer.size) : std::string("?")),
                   rate_cell(transfer.rate_bytes_per_s)});
  }
  return table.render(options.width, 0, "    ");
}

// "connections: 18 open of 18 (auto, up to 20), 1 request each, 17 in flight, 498.0 KiB/s per
// connection: 18 connections: connect time-outs at 20". Nothing from a daemon that does not report
// its connections (older than the field, or not filling it yet): every field is zero.
std::string connections_line(const protocol::ConnectionStatus& connections) {
  if (connections == protocol::ConnectionStatus{}) return {};
  std::string line = "connections: " + group_digits(connections.open) + " open of " +
                     group_digits(connections.limit);
  line += connections.adaptive ? " (auto, up to " + group_digits(connections.max) + ")"
                               : std::string(" (fixed)");
  line += ", " + plural(connections.streams_per_connection, "request", "requests") + " each";
  line += ", " + group_digits(connections.requests_in_flight) + " in flight";
  if (connections.rate_per_connection_bytes_per_s > 0)
    line += ", " + format_rate(connections.rate_per_connection_bytes_per_s) + " per connection";
  if (!connections.reason.empty()) line += ": " + connections.reason;
  return line + "\n";
}

std::string daemon_lines(const protocol::DaemonStatus& status, const RenderOptions& options) {
  std::string out = "pnsyncd " + status.version + ", pid " + std::to_string(status.pid);
  if (status.started_unix > 0) out += ", up " + duration(options.now_unix - status.started_unix);
  out += ", " + format_rate(status.rate_bytes_per_s) + " in all";
  if (status.paused) out += ", " + colour("paused", "33", options.tty);
  if (status.held_until_unix)
    out +=
        ", " +
        colour("server asked to wait: " +
                   duration(std::max<std::int64_t>(0, *status.held_until_unix - options.now_unix)) +
                   " more (resume ends it)",
               "33", options.tty);
  out += "\ntransfers: " + std::to_string(status.transfers);
  if (status.transfers_auto)
    out += " (auto, up to " + std::to_string(status.max_transfers) + ")";
  else
    out += " (fixed)";
  if (!status.transfers_reason.empty()) out += ": " + status.transfers_reason;
  out += "\n" + connections_line(status.connections);
  out += "bandwidth limit: " +
         (status.bandwidth_limit > 0 ? format_rate(static_cast<double>(status.bandwidth_limit))
                                     : std::string("none")) +
         "\n";
  return out;
}

}  // namespace

std::string progress_bar(std::int64_t done, std::int64_t total, std::size_t cells, bool tty) {
  if (total <= 0)
    return std::string(tty ? "" : "[") + std::string(cells, tty ? ' ' : '?') + (tty ? "" : "]");
  const double share = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  const auto filled = static_cast<std::size_t>(share * static_cast<double>(cells));
  if (!tty) return "[" + std::string(filled, '#') + std::string(cells - filled, '-') + "]";
  std::string bar;
  for (std::size_t i = 0; i < cells; ++i) bar += i < filled ? "█" : "░";
  return bar;
}

std::string render_status(const protocol::DaemonStatus& status, const RenderOptions& options) {
  std::string out = daemon_lines(status, options);
  if (status.mirrors.empty()) return out + "\nno mirrors\n";

  Table table({{"MIRROR"},
               {"STATE"},
               {"VERIFIED", Table::Align::Right},
               {"FAILED", Table::Align::Right},
               {"RATE", Table::Align::Right},
               {"ETA", Table::Align::Right}});
  for (const protocol::MirrorStatus& mirror : status.mirrors) {
    std::vector<std::string> below = mirror_details(mirror, options);
    if (std::string transfers = transfers_block(mirror, options); !transfers.empty()) {
      transfers.pop_back();  // Table adds the newline of each line below
      std::size_t start = 0;
      for (std::size_t end; (end = transfers.find('\n', start)) != std::string::npos;
           start = end + 1)
        below.push_back(transfers.substr(start, end - start));
      below.push_back(transfers.substr(start));
    }
    const std::string failed = group_digits(mirror.files_failed);
    table.add_row(
        {mirror.name, state_cell(mirror, options.tty),
         group_digits(mirror.files_verified) + " / " + group_digits(mirror.files_total),
         mirror.files_failed > 0 ? colour(failed, "31", options.tty) : failed,
         rate_cell(mirror.rate_bytes_per_s),
         mirror.eta_s ? (mirror.bytes_total_estimated ? "≥" : "") + duration(*mirror.eta_s)
                      : std::string("-")},
        std::move(below));
  }
  return out + "\n" + table.render(options.width);
}

std::string render_failures(const std::vector<protocol::FailedFile>& failures,
                            const RenderOptions& options) {
  return render_failure_rows(failures, options, true) +
         render_failures_end(static_cast<std::int64_t>(failures.size()), false);
}

std::string render_failure_rows(const std::vector<protocol::FailedFile>& failures,
                                const RenderOptions& options, bool header) {
  if (failures.empty()) return {};
  Table table(header ? std::vector<Table::Column>{{"MIRROR"},
                                                  {"PATH"},
                                                  {"ATTEMPTS", Table::Align::Right},
                                                  {"LAST ERROR"}}
                     : std::vector<Table::Column>{{}, {}, {"", Table::Align::Right}, {}});
  for (const protocol::FailedFile& failed : failures)
    table.add_row({failed.mirror, failed.path, std::to_string(failed.attempts), failed.last_error});
  return table.render(options.width);
}

std::string render_failures_end(std::int64_t shown, bool more) {
  if (shown == 0) return more ? "" : "no failed files\n";
  if (more)
    return "the first " + group_digits(shown) +
           " failed files; more follow (pnsyncctl failures without --limit lists them all)\n";
  return group_digits(shown) + " failed files; `pnsyncctl retry` tries them again\n";
}

std::string render_plans(const std::vector<protocol::Plan>& plans, const RenderOptions& options) {
  std::string out;
  for (const protocol::Plan& plan : plans) {
    if (!out.empty()) out += "\n";
    out += "plan for " + plan.mirror +
           (plan.listing_complete ? "\n" : " (listing incomplete: more files may appear)\n");
    Table table({{""}, {"", Table::Align::Right}, {""}, {"", Table::Align::Right}});
    auto unknown = [](std::int64_t files) {
      return files > 0 ? "+ " + group_digits(files) + " files of unknown size" : std::string();
    };
    table.add_row({"selected", group_digits(plan.files_selected) + " files",
                   format_bytes(plan.bytes_selected), unknown(plan.files_unknown_size)});
    table.add_row({"verified", group_digits(plan.files_verified) + " files"});
    table.add_row({"to fetch", group_digits(plan.files_to_fetch) + " files",
                   format_bytes(plan.bytes_to_fetch)});
    if (plan.files_kept_unselected > 0)
      table.add_row({"kept", group_digits(plan.files_kept_unselected) + " files",
                     "on disk, no longer selected"});
    out += table.render(options.width, -1, "  ");
    if (!plan.sample.empty()) {
      out += "  for example:\n";
      for (const std::string& path : plan.sample)
        out += "    " + elide_middle(path, options.width > 4 ? options.width - 4 : 1) + "\n";
    }
  }
  return out;
}

}  // namespace pnsync::ctl
