// SPDX-License-Identifier: MIT
// `pnsyncd --config FILE` without --once: keeps every mirror in sync until SIGTERM/SIGINT, in
// the foreground (systemd style), on one event loop that serves the transfers, the timers and the
// control socket. SIGHUP reloads the configuration; an invalid new one is refused and the running
// one stays.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "store/store.hpp"

namespace pnsync {

// One warning line per setting that opens the mirror to others (config/exposure.hpp), naming
// the setting, its value and the file; at start and after each reload, whatever log_level says
// below warning. The daemon still runs: refusing would stop a mirror over a monitoring choice.
void warn_about_exposures(const config::Config& config, Log& log);

ExitCode run_daemon(const std::filesystem::path& config_file, config::Config config,
                    const std::optional<config::Secret>& password, store::Store& store, Log& log);

}  // namespace pnsync
