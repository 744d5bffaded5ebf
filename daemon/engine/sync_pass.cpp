// SPDX-License-Identifier: MIT
#include "daemon/engine/sync_pass.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdarg>
#include <memory>
#include <vector>

#include "common/progress.hpp"
#include "common/text.hpp"
#include "daemon/engine/engine.hpp"
#include "protocol/codec.hpp"

namespace pnsync {

namespace {

constexpr auto kRedrawEvery = std::chrono::seconds(1);
constexpr auto kLogProgressEvery = std::chrono::seconds(30);
constexpr std::size_t kFailuresShown = 20;

[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* format, ...) {
  char buffer[1024];
  std::va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n > 0)
    out.append(buffer, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buffer - 1));
}

std::string progress_text(const JobProgress& progress, double rate) {
  std::string text = std::to_string(progress.counts.files_verified) + "/" +
                     std::to_string(progress.counts.files_total) + " files, " +
                     format_bytes(progress.counts.bytes_verified) + "/" +
                     format_bytes(progress.counts.bytes_total);
  if (!progress.crawl_done)
    text += " (listing: " + std::to_string(progress.dirs_pending) + " dirs to go)";
  if (progress.counts.files_failed > 0)
    text += ", " + std::to_string(progress.counts.files_failed) + " failed";
  text += ", " + format_rate(rate);
  const auto remaining = progress.counts.bytes_total - progress.counts.bytes_verified;
  if (auto left = eta(remaining, rate); left && progress.crawl_done)
    text += ", ETA " + format_duration(*left);
  return text;
}

class Pass {
public:
  Pass(const config::Config& config, const std::optional<config::Secret>& password,
       store::Store& store, Log& log, const PassOptions& options)
      : log_(log),
        options_(options),
        engine_(io_, config, password, store, log, RunnerMode::Once, [this] { on_all_done(); }),
        signals_(io_, SIGINT, SIGTERM),
        ticker_(io_) {}

  ExitCode run() {
    started_ = std::chrono::steady_clock::now();
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      log_.warning(std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                   "; stopping, partial files are kept for the next run");
      interrupted_ = true;
      engine_.shutdown("interrupted");
    });
    tick();
    engine_.set_job_options(JobOptions{.plan_only = options_.plan_only,
                                       .verify_at_rest = options_.verify_at_rest,
                                       .refetch = options_.refetch,
                                       .slow_stream = options_.slow_stream,
                                       .listing_limit = options_.listing_limit});
    engine_.start();
    io_.run();
    if (options_.live_progress) std::fputs("\r\033[K", stderr);
    log_.set_status_line(false);
    std::string summary;
    const ExitCode code = summarise(summary);
    if (options_.plan_only) {
      print_plans();
    } else {
      std::fputs(summary.c_str(), options_.summary_out);
      std::fflush(options_.summary_out);
    }
    return code;
  }

private:
  void on_all_done() {
    // Let the loop run dry: no io_context::stop(), so no handler is left behind half-done.
    // A tick whose wait already completed is not cancelled by cancel(); all_finished_ stops it
    // from arming the timer again (which would keep the loop, and the process, alive).
    all_finished_ = true;
    signals_.clear();
    signals_.cancel();
    ticker_.cancel();
  }

  void tick() {
    ticker_.expires_after(kRedrawEvery);
    ticker_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || all_finished_) return;
      report_progress();
      tick();
    });
  }

  void report_progress() {
    const auto now = std::chrono::steady_clock::now();
    const auto& runners = engine_.runners();
    const double rate = engine_.rate();
    if (options_.live_progress) {
      std::string line;
      for (const auto& runner : runners) {
        if (!line.empty()) line += " | ";
        line += runner->name() + ": " + progress_text(runner->progress(), runner->rate());
      }
      if (runners.size() > 1) line += " | " + format_rate(rate);
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
      std::fflush(stderr);
      log_.set_status_line(true);
    } else if (now - last_logged_ >= kLogProgressEvery) {
      last_logged_ = now;
      for (const auto& runner : runners)
        if (runner->running())
          log_.info(runner->name() + ": " + progress_text(runner->progress(), runner->rate()));
    }
  }

  void print_plans() {
    std::FILE* out = options_.summary_out;
    if (options_.json) {
      protocol::Response response;
      response.plans.emplace();
      for (const auto& runner : engine_.runners())
        if (auto plan = runner->plan()) response.plans->push_back(std::move(*plan));
      std::fputs(protocol::result_json(response).c_str(), out);
      std::fputc('\n', out);
      std::fflush(out);
      return;
    }
    for (const auto& runner : engine_.runners()) {
      const auto plan = runner->plan();
      if (!plan) continue;
      std::fprintf(out, "\n%s: plan\n", plan->mirror.c_str());
      std::fprintf(out, "  selected   %lld files, %s", static_cast<long long>(plan->files_selected),
                   format_bytes(plan->bytes_selected).c_str());
      if (plan->files_unknown_size > 0)
        std::fprintf(out, " + %lld files of unknown size",
                     static_cast<long long>(plan->files_unknown_size));
      std::fprintf(out, "\n  verified   %lld files already here\n",
                   static_cast<long long>(plan->files_verified));
      std::fprintf(out, "  to fetch   %lld files, %s%s\n",
                   static_cast<long long>(plan->files_to_fetch),
                   format_bytes(plan->bytes_to_fetch).c_str(),
                   plan->files_unknown_size > 0 ? " + the files of unknown size" : "");
      if (plan->files_kept_unselected > 0)
        std::fprintf(out, "  kept       %lld files no longer selected (delete_unselected is off)\n",
                     static_cast<long long>(plan->files_kept_unselected));
      std::fprintf(out, "  listing    %s\n",
                   plan->listing_complete ? "complete"
                                          : "incomplete: more files may be selected than shown");
      for (const auto& path : plan->sample) std::fprintf(out, "    %s\n", printable(path).c_str());
      if (plan->files_to_fetch > static_cast<std::int64_t>(plan->sample.size()))
        std::fprintf(out, "    ...\n");
    }
    std::fflush(out);
  }

  // The exit status of the run, and the summary text in `out`.
  ExitCode summarise(std::string& out) {
    const auto elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    ExitCode code = ExitCode::Ok;
    auto worse = [&code](ExitCode candidate) {
      // Most specific first: a login problem explains everything else.
      static constexpr ExitCode kOrder[] = {ExitCode::AuthFailed, ExitCode::AccessDenied,
                                            ExitCode::LocalStorage, ExitCode::FilesFailed};
      for (ExitCode known : kOrder) {
        if (code == known) return;
        if (candidate == known) {
          code = candidate;
          return;
        }
      }
    };
    appendf(out, "\npnsync summary (%.1f s)\n", elapsed);
    for (const auto& job : engine_.runners()) {
      const auto progress = job->progress();
      const double rate = elapsed > 0 ? static_cast<double>(progress.bytes_fetched) / elapsed : 0.0;
      appendf(out, "  %-28s %s: %lld/%lld files verified, %s of %s, fetched %s at %s\n",
              job->name().c_str(), std::string(to_string(job->last_status())).c_str(),
              static_cast<long long>(progress.counts.files_verified),
              static_cast<long long>(progress.counts.files_total),
              format_bytes(progress.counts.bytes_verified).c_str(),
              format_bytes(progress.counts.bytes_total).c_str(),
              format_bytes(progress.bytes_fetched).c_str(), format_rate(rate).c_str());
      if (!job->last_message().empty())
        appendf(out, "    %s\n", printable(job->last_message()).c_str());
      if (progress.modes_closed > 0)
        appendf(out,
                "    closed %lld world-readable entries under %s (%lld entries set to "
                "file_mode/dir_mode)\n",
                static_cast<long long>(progress.modes_closed_world_readable),
                job->mirror().dest.c_str(), static_cast<long long>(progress.modes_closed));
      switch (job->last_status()) {
        case JobStatus::AuthFailed:
          worse(ExitCode::AuthFailed);
          break;
        case JobStatus::AccessDenied:
          worse(ExitCode::AccessDenied);
          break;
        case JobStatus::LocalStorage:
        case JobStatus::NoSpace:
          worse(ExitCode::LocalStorage);
          break;
        case JobStatus::Failed:
        case JobStatus::Stopped:
          worse(ExitCode::FilesFailed);
          break;
        case JobStatus::Done:
        case JobStatus::Running:
          break;
      }
      // Counted and sampled by the store: a pass that gave up on most of MIMIC-CXR would
      // otherwise hold a record per failed file to print twenty of them.
      const std::int64_t failed = job->failed_count();
      if (failed > 0) {
        worse(ExitCode::FilesFailed);
        appendf(out, "    %lld failed:\n", static_cast<long long>(failed));
        for (const auto& file : job->failures_page("", kFailuresShown))
          appendf(out, "      %s: %s\n", printable(file.path).c_str(),
                  printable(file.last_error).c_str());
        if (failed > static_cast<std::int64_t>(kFailuresShown))
          appendf(out, "      ... and %lld more\n",
                  static_cast<long long>(failed - static_cast<std::int64_t>(kFailuresShown)));
      } else if (job->last_status() == JobStatus::Done && !options_.plan_only &&
                 progress.counts.files_verified < progress.counts.files_total) {
        worse(ExitCode::FilesFailed);
      }
    }
    if (interrupted_) appendf(out, "  interrupted: run again to resume\n");
    return code;
  }

  Log& log_;
  const PassOptions& options_;
  boost::asio::io_context io_;
  Engine engine_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer ticker_;
  bool all_finished_ = false;
  bool interrupted_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_logged_ = std::chrono::steady_clock::now();
};

}  // namespace

ExitCode run_sync_pass(const config::Config& config, const std::optional<config::Secret>& password,
                       store::Store& store, Log& log, const PassOptions& options) {
  Pass pass(config, password, store, log, options);
  return pass.run();
}

}  // namespace pnsync
