// SPDX-License-Identifier: MIT
// `pnsyncd --config FILE` without --once: keeps every mirror in sync until SIGTERM/SIGINT, in
// the foreground (systemd style), on one event loop that serves the transfers, the timers and the
// control socket. SIGHUP reloads the configuration; an invalid new one is refused and the running
// one stays.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/log.hpp"
#include "store/store.hpp"

namespace pnsync {

LogLevel log_level_of(config::LogLevel level);

ExitCode run_daemon(const std::filesystem::path& config_file, config::Config config,
                    const std::optional<config::Secret>& password, store::Store& store, Log& log);

}  // namespace pnsync
