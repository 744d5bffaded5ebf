// SPDX-License-Identifier: MIT
// The engine's side of the control protocol: one handler per method, found in a table as the
// protocol's method table finds names (protocol/methods.hpp).
#include <algorithm>

#include "config/values.hpp"
#include "daemon/engine/engine.hpp"

namespace pnsync {

namespace {

using protocol::Method;

protocol::Response error_response(const protocol::Request& request, protocol::ErrorCode code,
                                  std::string message) {
  protocol::Response response;
  response.id = request.id;
  response.error = code;
  response.message = std::move(message);
  return response;
}

protocol::Response ok_response(const protocol::Request& request, std::string message) {
  protocol::Response response;
  response.id = request.id;
  response.message = std::move(message);
  return response;
}

std::string count_of(std::size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

std::string every_mirror_or(const protocol::Request& request) {
  return request.mirror.empty() ? "every mirror" : request.mirror;
}

}  // namespace

protocol::Response Engine::handle(const protocol::Request& request) {
  // A failing state database costs the client its answer, not the daemon its life.
  try {
    return dispatch(request);
  } catch (const store::StoreError& error) {
    return error_response(request, protocol::ErrorCode::Failed, error.what());
  }
}

protocol::Response Engine::dispatch(const protocol::Request& request) {
  struct Row {
    Method method;
    protocol::Response (Engine::*handler)(const protocol::Request&);
    bool starts_work;  // refused once the daemon is shutting down
  };
  static constexpr std::array kHandlers = {
      Row{Method::Hello, &Engine::on_hello, false},
      Row{Method::Status, &Engine::on_status, false},
      Row{Method::Failures, &Engine::on_failures, false},
      Row{Method::Pause, &Engine::on_runner_command, true},
      Row{Method::Resume, &Engine::on_runner_command, true},
      Row{Method::Sync, &Engine::on_runner_command, true},
      Row{Method::Retry, &Engine::on_runner_command, true},
      Row{Method::Refetch, &Engine::on_refetch, true},
      Row{Method::Verify, &Engine::on_verify, true},
      Row{Method::Limit, &Engine::on_limit, false},
      Row{Method::Transfers, &Engine::on_transfers, false},
      Row{Method::Plan, &Engine::on_plan, false},
  };
  const auto row = std::find_if(kHandlers.begin(), kHandlers.end(),
                                [&](const Row& r) { return r.method == request.method; });
  if (row == kHandlers.end())
    return error_response(request, protocol::ErrorCode::UnknownMethod, "unknown method");
  if (row->starts_work && shutting_down_)
    return error_response(request, protocol::ErrorCode::Failed, "the daemon is shutting down");
  return (this->*row->handler)(request);
}

std::optional<protocol::Response> Engine::select(const protocol::Request& request,
                                                 std::vector<MirrorRunner*>& out) {
  if (request.mirror.empty()) {
    for (auto& runner : runners_) out.push_back(runner.get());
    return std::nullopt;
  }
  if (auto* runner = find(request.mirror)) {
    out.push_back(runner);
    return std::nullopt;
  }
  std::string names;
  for (const auto& runner : runners_) names += (names.empty() ? "" : ", ") + runner->name();
  return error_response(request, protocol::ErrorCode::UnknownMirror,
                        "no mirror named \"" + request.mirror + "\"; configured: " + names);
}

protocol::Response Engine::on_hello(const protocol::Request& request) {
  protocol::Response response = ok_response(request, "pnsyncd " PNSYNC_VERSION);
  response.hello_version = protocol::kProtocolVersion;
  return response;
}

protocol::Response Engine::on_status(const protocol::Request& request) {
  protocol::Response response = ok_response(request, "");
  response.status = status();
  if (!request.mirror.empty()) {
    std::vector<MirrorRunner*> targets;
    if (auto error = select(request, targets)) return *error;
    std::erase_if(response.status->mirrors,
                  [&](const auto& m) { return m.name != request.mirror; });
  }
  return response;
}

protocol::Response Engine::on_failures(const protocol::Request& request) {
  std::vector<MirrorRunner*> targets;
  if (auto error = select(request, targets)) return *error;
  return failures_page(request, std::move(targets));
}

protocol::Response Engine::on_runner_command(const protocol::Request& request) {
  std::vector<MirrorRunner*> targets;
  if (auto error = select(request, targets)) return *error;
  const char* done = "";
  for (auto* runner : targets) {
    switch (request.method) {
      case Method::Pause:
        runner->pause("paused by pnsyncctl");
        done = "paused";
        break;
      case Method::Resume:
        runner->resume();
        done = "resumed";
        break;
      case Method::Sync:
        runner->sync_now();
        done = "started a pass of";
        break;
      default:
        runner->retry_failed();
        done = "re-queued the failed files of";
        break;
    }
  }
  log_.info(std::string(done) + " " + every_mirror_or(request) + " (pnsyncctl)");
  // The operator says go now: a server's Retry-After hold (the whole host) ends too, and
  // requests backing off in a running pass are tried again without waiting out their delay.
  if (request.method == Method::Resume || request.method == Method::Sync) {
    for (auto* runner : targets) runner->retry_waiting_now();
    if (scheduler_.release_hold())
      log_.info("the server's Retry-After hold is released (pnsyncctl)");
  }
  return ok_response(request, std::string(done) + " " + count_of(targets.size(), "mirror"));
}

protocol::Response Engine::on_refetch(const protocol::Request& request) {
  std::vector<MirrorRunner*> targets;
  if (auto error = select(request, targets)) return *error;
  targets.front()->refetch();
  log_.warning(request.mirror +
               ": refetch asked (pnsyncctl): the next pass fetches everything "
               "missing from " +
               targets.front()->mirror().dest.string() + " again");
  return ok_response(request, "refetching " + request.mirror +
                                  ": the next pass fetches everything missing from " +
                                  targets.front()->mirror().dest.string());
}

protocol::Response Engine::on_verify(const protocol::Request& request) {
  std::vector<MirrorRunner*> targets;
  if (auto error = select(request, targets)) return *error;
  for (auto* runner : targets) runner->verify_at_rest();
  log_.info("verify at rest of " + every_mirror_or(request) + " (pnsyncctl)");
  return ok_response(request, "verifying " + count_of(targets.size(), "mirror") +
                                  " at rest (a pass in flight finishes first)");
}

protocol::Response Engine::on_limit(const protocol::Request& request) {
  if (request.value < 0)
    return error_response(request, protocol::ErrorCode::BadRequest,
                          "limit must be 0 (none) or a positive number of bytes/s");
  const std::string rate =
      request.value ? config::detail::rate_setting(request.value) + "/s" : "no limit";
  if (request.mirror.empty()) {
    config_.bandwidth_limit = request.value;
    host_budget_->set_rate(request.value);
  } else {
    std::vector<MirrorRunner*> targets;
    if (auto error = select(request, targets)) return *error;
    auto mirror = targets.front()->mirror();
    mirror.bandwidth_limit = request.value;
    targets.front()->update(mirror);
  }
  log_.info("bandwidth limit" + (request.mirror.empty() ? "" : " of " + request.mirror) + ": " +
            rate + " (pnsyncctl)");
  return ok_response(request, "bandwidth limit set to " + rate);
}

protocol::Response Engine::on_transfers(const protocol::Request& request) {
  if (request.value < 0 || request.value > 256)
    return error_response(request, protocol::ErrorCode::BadRequest,
                          "transfers must be 1..256, or 0 for auto");
  if (request.value == 0) {
    set_adaptive_transfers();
    log_.info("transfers: auto (pnsyncctl)");
    return ok_response(request,
                       "transfers: auto, starting at " + std::to_string(controller_->limit()));
  }
  set_fixed_transfers(static_cast<int>(request.value));
  log_.info("transfers: " + std::to_string(request.value) + " (pnsyncctl)");
  return ok_response(request, "transfers set to " + std::to_string(request.value));
}

protocol::Response Engine::on_plan(const protocol::Request& request) {
  std::vector<MirrorRunner*> targets;
  if (auto error = select(request, targets)) return *error;
  protocol::Response response = ok_response(request, "");
  response.plans.emplace();
  for (auto* runner : targets) {
    if (auto plan = runner->plan()) {
      response.plans->push_back(std::move(*plan));
    } else {
      protocol::Plan unknown;  // no pass has got far enough to say
      unknown.mirror = runner->name();
      response.plans->push_back(std::move(unknown));
    }
  }
  return response;
}

protocol::Response Engine::failures_page(const protocol::Request& request,
                                         std::vector<MirrorRunner*> targets) {
  // A page also ends at this many bytes of names and errors, whatever the limit: even escaped
  // six-fold (\u00XX), the answer stays far below what a connection may queue (8 MiB).
  constexpr std::size_t kPageBytes = std::size_t{1} << 20;
  constexpr std::size_t kRowOverhead = 64;  // the field names and punctuation of one entry
  // By mirror name, then by path: the order the cursor counts in, whatever order the
  // configuration lists the mirrors in (and after a reload that adds one).
  std::sort(targets.begin(), targets.end(),
            [](const MirrorRunner* a, const MirrorRunner* b) { return a->name() < b->name(); });
  auto wanted = static_cast<std::size_t>(request.limit.value_or(protocol::kDefaultFailuresPage));
  std::size_t bytes = 0;
  bool more = false;
  protocol::Response response = ok_response(request, "");
  response.failures.emplace();
  for (auto* runner : targets) {
    std::string_view after;
    if (request.cursor) {
      if (runner->name() < request.cursor->mirror) continue;
      if (runner->name() == request.cursor->mirror) after = request.cursor->path;
    }
    // One more than fits: whether another page follows is then known without a further query.
    for (const auto& file : runner->failures_page(after, wanted + 1)) {
      const std::size_t size =
          runner->name().size() + file.path.size() + file.last_error.size() + kRowOverhead;
      if (wanted == 0 || (!response.failures->empty() && bytes + size > kPageBytes)) {
        more = true;
        break;
      }
      bytes += size;
      --wanted;
      response.failures->push_back({runner->name(), file.path, file.last_error, file.attempts});
    }
    if (more) break;
  }
  if (more) {
    const protocol::FailedFile& last = response.failures->back();
    response.next_cursor = protocol::FailuresCursor{last.mirror, last.path};
  }
  return response;
}

}  // namespace pnsync
