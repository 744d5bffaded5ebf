// SPDX-License-Identifier: MIT
// One pass over every configured mirror (`pnsyncd --once`): shares one HTTP client and one
// scheduler between the mirrors, shows live progress, stops cleanly on SIGINT/SIGTERM, and ends
// with a summary and an exit status.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "daemon/job/mirror_job.hpp"
#include "daemon/transfer/segment_plan.hpp"
#include "store/store.hpp"

namespace pnsync {

struct PassOptions {
  bool live_progress = false;  // redraw one status line (stderr is a terminal)
  std::FILE* summary_out = stdout;
  // --dry-run: list and fetch the selection's tables only, then print the plan of each mirror.
  bool plan_only = false;
  bool json = false;  // --dry-run --json: the plans as pnsyncctl plan --json prints them
  // --verify: hash every verified file again; what differs is fetched again.
  bool verify_at_rest = false;
  // --refetch: start even into a dest that lost the mirror's marker and files (JobOptions).
  bool refetch = false;
  SlowStreamSplit slow_stream = {};                        // defaults; tests judge sooner
  std::size_t listing_limit = JobOptions{}.listing_limit;  // tests lower it
};

ExitCode run_sync_pass(const config::Config& config, const std::optional<config::Secret>& password,
                       store::Store& store, Log& log, const PassOptions& options);

}  // namespace pnsync
