// SPDX-License-Identifier: MIT
// pnsyncd: arguments, configuration and start-up checks only; the engine lives in pnsync_core.
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "daemon/disk/state_lock.hpp"
#include "daemon/doctor/doctor.hpp"
#include "daemon/engine/daemon_loop.hpp"
#include "daemon/engine/sync_pass.hpp"
#include "daemon/net/curl_handles.hpp"
#include "store/store.hpp"

namespace {

constexpr const char* kUsage = R"(Usage: pnsyncd --config FILE [--once] [options]
       pnsyncd --doctor --config FILE

Mirrors PhysioNet project versions to local storage: parallel, resumable, every file verified
(SHA-256 against SHA256SUMS.txt where it lists the file, size otherwise) and tracked in SQLite.
Without --once it runs in the foreground until SIGTERM, keeps every mirror in sync (a pass now,
then every mirror's `every`), answers pnsyncctl on the control socket, and reloads its
configuration on SIGHUP.

Options:
  -c, --config FILE     configuration file (YAML; see pnsync.yaml(5) / docs/config.md)
      --once            one pass over every mirror, then exit (with a summary)
      --dry-run         show what each mirror's selection means (files, bytes, already here,
                        to fetch) without fetching anything but listings and the tables the
                        selection reads; exits like --once
      --verify          with --once: hash every verified file again (bit rot, tampering) and
                        fetch again what differs
      --refetch         with --once --mirror NAME: dest was emptied on purpose (new storage):
                        fetch everything again. Without it, a dest that lost the mirror's
                        marker and every verified file is taken for a mount that did not come
                        up, and the pass stops with status 5
      --json            with --dry-run: the plans as a JSON array (docs/control-protocol.md)
      --mirror NAME     only this mirror (project/version), with --once or --dry-run
      --doctor          check the configuration, the password source, the server (DNS, TCP,
                        TLS), the login (one request; a 401 stops there), access to every
                        mirror's project version, every dest (writable, free space, closed to
                        others) and state_dir (writable, not a network file system); prints
                        each with the fix for what fails; exits 0 when nothing failed (warnings
                        allowed), 1 otherwise
  -v, --verbose         debug logging (state changes of every transfer); overrides log_level
  -q, --quiet           warnings and errors only; overrides log_level
      --no-progress     no live progress line, even on a terminal (--once)
  -h, --help            this text
      --version         print the version

Exit status (--once; the daemon exits 0 after SIGTERM, 2 or 5 when it cannot start):
  0  every selected file is present and verified
  1  some files failed (they are listed in the summary)
  2  bad configuration or command line
  3  authentication failed (401): check the username and password
  4  access denied (403): the account lacks access to a project version
  5  local storage problem (permission, disk full, state_dir in use)
With --doctor: 0 nothing failed (warnings allowed), 1 a check failed (a bad configuration
included), 2 bad command line.
)";

struct Arguments {
  std::string config_file;
  bool once = false;
  bool dry_run = false;
  bool verify = false;
  bool refetch = false;
  bool json = false;
  bool doctor = false;
  std::string mirror;  // empty: all
  bool progress = true;
  std::optional<pnsync::LogLevel> level;  // from the command line; else the config's log_level
};

std::optional<Arguments> parse_arguments(int argc, char** argv, int& exit_now) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      exit_now = 0;
      return std::nullopt;
    }
    if (arg == "--version") {
      std::printf("pnsyncd %s\n", PNSYNC_VERSION);
      exit_now = 0;
      return std::nullopt;
    }
    if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
      args.config_file = argv[++i];
    } else if (arg.starts_with("--config=")) {
      args.config_file = std::string(arg.substr(9));
    } else if (arg == "--once") {
      args.once = true;
    } else if (arg == "--json") {
      args.json = true;
    } else if (arg == "--verify") {
      args.verify = true;
    } else if (arg == "--refetch") {
      args.refetch = true;
    } else if (arg == "--doctor") {
      args.doctor = true;
    } else if (arg == "--dry-run") {
      args.dry_run = true;
    } else if (arg == "--mirror" && i + 1 < argc) {
      args.mirror = argv[++i];
    } else if (arg == "-v" || arg == "--verbose") {
      args.level = pnsync::LogLevel::Debug;
    } else if (arg == "-q" || arg == "--quiet") {
      args.level = pnsync::LogLevel::Warning;
    } else if (arg == "--no-progress") {
      args.progress = false;
    } else {
      std::fprintf(stderr, "pnsyncd: unknown option '%s' (see pnsyncd --help)\n", argv[i]);
      exit_now = 2;
      return std::nullopt;
    }
  }
  if (args.config_file.empty()) {
    std::fputs("pnsyncd: --config FILE is required (see pnsyncd --help)\n", stderr);
    exit_now = 2;
    return std::nullopt;
  }
  if (args.doctor &&
      (args.once || args.dry_run || args.verify || args.refetch || !args.mirror.empty())) {
    std::fputs("pnsyncd: --doctor goes alone with --config (it checks every mirror)\n", stderr);
    exit_now = 2;
    return std::nullopt;
  }
  return args;
}

// --doctor's marks: ✓ ✗ on a UTF-8 terminal, the words ok/FAIL when piped or in another locale.
pnsync::doctor::Style doctor_style() {
  return {::isatty(STDOUT_FILENO) != 0 &&
          pnsync::doctor::utf8_locale(std::getenv("LC_ALL"), std::getenv("LC_CTYPE"),
                                      std::getenv("LANG"))};
}

}  // namespace

int main(int argc, char** argv) {
  using pnsync::ExitCode;
  // First, before any mode reads the password: a process that is not dumpable leaves no core
  // file, and no other process of the same user may ptrace it or read its /proc/PID/mem or
  // environ (only root, with CAP_SYS_PTRACE). Together with the unit's LimitCORE=0.
  if (::prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) != 0)
    std::fprintf(stderr, "pnsyncd: warning: prctl(PR_SET_DUMPABLE, 0): %s\n", std::strerror(errno));
  int exit_now = 0;
  auto args = parse_arguments(argc, argv, exit_now);
  if (!args) return exit_now;
  if (args->doctor) {
    const pnsync::curl::GlobalInit curl_global;
    return pnsync::doctor::run_doctor(args->config_file, stdout, doctor_style());
  }

  pnsync::Log log(args->level.value_or(pnsync::LogLevel::Info));
  pnsync::config::Config config;
  std::optional<pnsync::config::Secret> password;
  try {
    config = pnsync::config::load_config(args->config_file);
    if (config.credentials) password = pnsync::config::resolve_password(config);
  } catch (const pnsync::config::ConfigError& error) {
    pnsync::config::scrub_password_from_environment();
    std::fprintf(stderr, "pnsyncd: %s\n", error.what());
    return static_cast<int>(ExitCode::BadUsage);
  }
  // Read once, at start; a reload keeps this password (docs/operations.md, Credentials).
  pnsync::config::scrub_password_from_environment();
  if (!args->level) log.set_level(config.log_level);
  pnsync::warn_about_exposures(config, log);
  if (args->json && !args->dry_run) {
    std::fputs("pnsyncd: --json goes with --dry-run (a running daemon: pnsyncctl --json)\n",
               stderr);
    return static_cast<int>(ExitCode::BadUsage);
  }
  if (args->verify && !args->once) {
    std::fputs("pnsyncd: --verify goes with --once (a running daemon: pnsyncctl verify)\n", stderr);
    return static_cast<int>(ExitCode::BadUsage);
  }
  if (args->refetch && (!args->once || args->mirror.empty())) {
    std::fputs(
        "pnsyncd: --refetch goes with --once --mirror NAME (a running daemon: pnsyncctl refetch "
        "NAME): fetching a whole mirror again is asked for by name\n",
        stderr);
    return static_cast<int>(ExitCode::BadUsage);
  }
  if (!args->mirror.empty()) {
    if (!args->once && !args->dry_run) {
      std::fputs("pnsyncd: --mirror goes with --once or --dry-run\n", stderr);
      return static_cast<int>(ExitCode::BadUsage);
    }
    std::string names;
    for (const auto& mirror : config.mirrors) names += (names.empty() ? "" : ", ") + mirror.name();
    std::erase_if(config.mirrors, [&](const auto& m) { return m.name() != args->mirror; });
    if (config.mirrors.empty()) {
      std::fprintf(stderr, "pnsyncd: %s: no mirror named \"%s\" (configured: %s)\n",
                   args->config_file.c_str(), args->mirror.c_str(), names.c_str());
      return static_cast<int>(ExitCode::BadUsage);
    }
  }

  auto lock = pnsync::StateLock::acquire(config.state_dir);
  if (!lock) {
    std::fprintf(stderr, "pnsyncd: %s\n", lock.error().message.c_str());
    return static_cast<int>(ExitCode::LocalStorage);
  }
  try {
    pnsync::store::Store store(config.state_dir / "state.db");
    pnsync::curl::GlobalInit curl_global;
    if (!args->once && !args->dry_run)
      return static_cast<int>(
          pnsync::run_daemon(args->config_file, std::move(config), password, store, log));
    pnsync::PassOptions options;
    options.live_progress =
        args->progress && ::isatty(STDERR_FILENO) && !log.enabled(pnsync::LogLevel::Debug);
    options.plan_only = args->dry_run;
    options.verify_at_rest = args->verify;
    options.refetch = args->refetch;
    options.json = args->json;
    return static_cast<int>(pnsync::run_sync_pass(config, password, store, log, options));
  } catch (const pnsync::store::StoreError& error) {
    std::fprintf(stderr, "pnsyncd: %s\n", error.what());
    return static_cast<int>(ExitCode::LocalStorage);
  }
}
