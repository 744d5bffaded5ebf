// SPDX-License-Identifier: MIT
#include "daemon/daemon_loop.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>

#include "daemon/control_server.hpp"
#include "daemon/engine.hpp"

namespace pnsync {

LogLevel log_level_of(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::Error:
      return LogLevel::Error;
    case config::LogLevel::Warning:
      return LogLevel::Warning;
    case config::LogLevel::Info:
      return LogLevel::Info;
    case config::LogLevel::Debug:
      return LogLevel::Debug;
  }
  return LogLevel::Info;
}

namespace {

// How long in-flight work gets after SIGTERM before the loop is left regardless: transfers are
// cancelled at once, so this only bounds a stuck handler.
constexpr auto kShutdownGrace = std::chrono::seconds(5);

class Daemon {
public:
  Daemon(std::filesystem::path config_file, config::Config config,
         const std::optional<std::string>& password, store::Store& store, Log& log)
      : config_file_(std::move(config_file)),
        log_(log),
        engine_(io_, std::move(config), password, store, log, RunnerMode::Continuous,
                [this] { on_idle(); }),
        control_(io_, engine_, log, {engine_.config().socket, engine_.config().control_group}),
        signals_(io_, SIGINT, SIGTERM, SIGHUP),
        grace_(io_) {}

  ExitCode run() {
    // The socket comes first: a daemon nobody can reach should not start mirroring.
    if (auto opened = control_.open(); !opened) {
      log_.error(opened.error().message);
      return ExitCode::LocalStorage;
    }
    wait_for_signal();
    engine_.start();
    log_.info("pnsyncd " PNSYNC_VERSION " running: " +
              std::to_string(engine_.config().mirrors.size()) + " mirror(s)");
    io_.run();
    log_.info("pnsyncd stopped");
    return ExitCode::Ok;
  }

private:
  void wait_for_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        wait_for_signal();
        return;
      }
      stop(signal == SIGINT ? "SIGINT" : "SIGTERM");
    });
  }

  void reload() {
    config::Config next;
    try {
      next = config::load_config(config_file_);
    } catch (const config::ConfigError& error) {
      log_.error(std::string("reload refused, the running configuration stays: ") + error.what());
      return;
    }
    log_.set_level(log_level_of(next.log_level));
    log_.info("reloaded " + config_file_.string() + ": " + engine_.reload(std::move(next)));
  }

  void stop(const char* signal) {
    if (stopping_) return;
    stopping_ = true;
    log_.info(std::string("received ") + signal +
              "; stopping: transfers end now, partial files stay for the next start");
    grace_.expires_after(kShutdownGrace);
    grace_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      log_.warning("shutdown took longer than " + std::to_string(kShutdownGrace.count()) +
                   "s; leaving the event loop");
      io_.stop();
    });
    control_.close();
    engine_.shutdown("daemon stopping");
  }

  void on_idle() {
    if (!stopping_) return;
    // Let the loop run dry: every timer and socket is closed, so run() returns.
    signals_.clear();
    signals_.cancel();
    grace_.cancel();
  }

  std::filesystem::path config_file_;
  Log& log_;
  boost::asio::io_context io_;
  Engine engine_;
  ControlServer control_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer grace_;
  bool stopping_ = false;
};

}  // namespace

ExitCode run_daemon(const std::filesystem::path& config_file, config::Config config,
                    const std::optional<std::string>& password, store::Store& store, Log& log) {
  Daemon daemon(config_file, std::move(config), password, store, log);
  return daemon.run();
}

}  // namespace pnsync
