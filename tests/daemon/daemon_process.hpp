// SPDX-License-Identifier: MIT
// pnsyncd as a child process for the tests that need the real thing (kill -9, signals, another
// user): spawn, wait with a bound, kill. Header-only, shared by the process, crash-loop and
// local-fault tests.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "tests/support/sandbox.hpp"

namespace pnsync::test {

// `pnsyncd --config FILE --once --verbose`, stdout and stderr appended to `log`. `wrapper` is put
// in front of the command line, e.g. {"setpriv", "--reuid=nobody", ...} to run it unprivileged.
class Pnsyncd {
public:
  enum class Mode { Once, Daemon };  // --once, or the long-running daemon

  Pnsyncd(const std::filesystem::path& config, const std::filesystem::path& log,
          std::vector<std::string> wrapper = {})
      : Pnsyncd(config, log, Mode::Once, {}, std::move(wrapper)) {}

  // `extra_env` ("NAME=value") is added to this process's environment for the daemon.
  Pnsyncd(const std::filesystem::path& config, const std::filesystem::path& log, Mode mode,
          std::vector<std::string> extra_env = {}, std::vector<std::string> wrapper = {}) {
    std::vector<std::string> args = std::move(wrapper);
    for (const char* arg : {PNSYNCD_PATH, "--config", "", "--verbose"}) args.emplace_back(arg);
    args[args.size() - 2] = config.string();
    if (mode == Mode::Once) args.emplace_back("--once");
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> env;
    for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
    for (std::string& e : extra_env) env.push_back(e.data());
    env.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int spawned = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("cannot start " + args[0]);
  }
  ~Pnsyncd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Pnsyncd(const Pnsyncd&) = delete;
  Pnsyncd& operator=(const Pnsyncd&) = delete;

  pid_t pid() const { return pid_; }
  // Exit status, or -signal.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return decode(status);
  }
  // The exit status (or -signal) if the process ends within `limit`, else nullopt (still running).
  std::optional<int> wait_for(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (true) {
      int status = 0;
      const pid_t got = ::waitpid(pid_, &status, WNOHANG);
      if (got == pid_) {
        pid_ = -1;
        return decode(status);
      }
      if (std::chrono::steady_clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  int kill9() {
    ::kill(pid_, SIGKILL);
    return wait();
  }

private:
  static int decode(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  pid_t pid_ = -1;
};

// Polls `condition` every 20 ms until it holds or `limit` passes.
inline bool wait_for(const std::function<bool()>& condition, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// Writes `config` as the YAML pnsyncd reads (the keys the engine tests use), with the password in
// a 0600 file next to it, and returns the config file. `owner` (uid) gets both files, for a
// daemon run as another user.
inline std::filesystem::path write_daemon_config(const config::Config& config,
                                                 const std::string& password,
                                                 const std::filesystem::path& dir,
                                                 std::optional<uid_t> owner = std::nullopt) {
  const auto password_file = dir / "password";
  write_file(password_file, password + "\n");
  ::chmod(password_file.c_str(), 0600);
  std::string yaml =
      "server: " + config.server + "\nstate_dir: " + config.state_dir.string() + "\n";
  if (config.ca_file) yaml += "ca_file: " + config.ca_file->string() + "\n";
  if (config.credentials)
    yaml += "credentials:\n  username: " + config.credentials->username +
            "\n  password_file: " + password_file.string() + "\n";
  yaml += "transfers: " + std::to_string(config.initial_transfers()) + "\n";
  yaml += "stall_timeout: " + std::to_string(config.stall_timeout.count()) + "s\n";
  yaml += "connect_timeout: " + std::to_string(config.connect_timeout.count()) + "s\n";
  yaml += "retry_base: " + std::to_string(config.retry_base.count()) + "ms\n";
  yaml += "retry_max: " + std::to_string(config.retry_max.count()) + "ms\n";
  yaml += "max_attempts: " + std::to_string(config.max_attempts) + "\n";
  yaml += "segments: " + std::to_string(config.segments) + "\n";
  yaml += "segment_size: " + std::to_string(config.segment_size) + "\n";
  yaml += "relist_after: " + std::to_string(config.relist_after.count()) + "s\n";
  yaml += "mirrors:\n";
  for (const auto& mirror : config.mirrors)
    yaml += "  - project: " + mirror.project + "\n    version: " + mirror.version +
            "\n    dest: " + mirror.dest.string() + "\n";
  auto config_file = dir / "pnsync.yaml";
  write_file(config_file, yaml);
  if (owner) {
    if (::chown(password_file.c_str(), *owner, static_cast<gid_t>(-1)) != 0 ||
        ::chown(config_file.c_str(), *owner, static_cast<gid_t>(-1)) != 0)
      throw std::runtime_error("cannot chown the test configuration to uid " +
                               std::to_string(*owner));
  }
  return config_file;
}

}  // namespace pnsync::test
