// SPDX-License-Identifier: MIT
#include "daemon/engine/daemon_loop.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>

#include "config/exposure.hpp"
#include "config/values.hpp"
#include "daemon/control/control_server.hpp"
#include "daemon/engine/engine.hpp"
#include "daemon/service/metrics_server.hpp"
#include "daemon/service/sd_notify.hpp"

namespace pnsync {

void warn_about_exposures(const config::Config& config, Log& log) {
  for (const config::Exposure& exposure : config::exposures(config))
    log.warning("DATA EXPOSED: " + exposure.problem + ". Fix: " + exposure.fix);
}

namespace {

// How long in-flight work gets after SIGTERM before the loop is left regardless: transfers are
// cancelled at once, so this only bounds a stuck handler.
constexpr auto kShutdownGrace = std::chrono::seconds(5);
constexpr auto kStatusEvery = std::chrono::seconds(5);

class Daemon {
public:
  Daemon(std::filesystem::path config_file, config::Config config,
         const std::optional<config::Secret>& password, store::Store& store, Log& log)
      : config_file_(std::move(config_file)),
        log_(log),
        engine_(io_, std::move(config), password, store, log, RunnerMode::Continuous,
                [this] { on_idle(); }),
        control_(io_, engine_, log, {engine_.config().socket, engine_.config().control_group}),
        signals_(io_, SIGINT, SIGTERM, SIGHUP),
        grace_(io_),
        status_timer_(io_),
        watchdog_timer_(io_) {}

  ExitCode run() {
    // The socket comes first: a daemon nobody can reach should not start mirroring.
    if (auto opened = control_.open(); !opened) {
      log_.error(opened.error().message);
      return ExitCode::LocalStorage;
    }
    if (const auto& listen = engine_.config().metrics_listen) {
      auto started = MetricsServer::start(
          io_, *config::detail::parse_listen_address(*listen).value,
          [this] { return engine_.render_metrics(); }, log_);
      if (!started) {
        log_.error(started.error().message);
        return ExitCode::LocalStorage;
      }
      metrics_.emplace(std::move(*started));
    }
    if (auto notifier = SystemdNotifier::from_environment(); notifier) {
      notifier_ = std::move(*notifier);
    } else {
      log_.warning(notifier.error().message + "; not reporting to systemd");
    }
    wait_for_signal();
    engine_.start();
    log_.info(
        "pnsyncd " PNSYNC_VERSION " running: " + std::to_string(engine_.config().mirrors.size()) +
        " mirror(s), control socket " + engine_.config().socket.string());
    notify(notifier_.ready());
    report_status();
    if (auto interval = notifier_.watchdog_ping_interval()) ping_watchdog(*interval);
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

  void notify(const Result<void>& sent) {
    if (!sent) log_.debug("systemd notify: " + sent.error().message);
  }

  void report_status() {
    if (!notifier_.enabled()) return;
    notify(notifier_.status(engine_.status_line()));
    status_timer_.expires_after(kStatusEvery);
    status_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec && !stopping_) report_status();
    });
  }

  // Pings come from a timer on the same loop as everything else: a loop stuck in a handler
  // stops them, and systemd restarts the service.
  void ping_watchdog(std::chrono::microseconds interval) {
    notify(notifier_.watchdog());
    watchdog_timer_.expires_after(interval);
    watchdog_timer_.async_wait([this, interval](const boost::system::error_code& ec) {
      if (!ec && !stopping_) ping_watchdog(interval);
    });
  }

  void reload() {
    notify(notifier_.reloading());
    config::Config next;
    try {
      next = config::load_config(config_file_);
    } catch (const config::ConfigError& error) {
      log_.error(std::string("reload refused, the running configuration stays: ") + error.what());
      notify(notifier_.ready());
      return;
    }
    log_.set_level(next.log_level);
    try {
      log_.info("reloaded " + config_file_.string() + ": " + engine_.reload(std::move(next)));
    } catch (const store::StoreError& error) {
      log_.error(std::string("reload stopped by the state database: ") + error.what());
    }
    warn_about_exposures(engine_.config(), log_);  // what runs now (metrics_listen stays)
    notify(notifier_.ready());
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
    notify(notifier_.stopping());
    status_timer_.cancel();
    watchdog_timer_.cancel();
    control_.close();
    metrics_.reset();
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
  boost::asio::steady_timer status_timer_;
  boost::asio::steady_timer watchdog_timer_;
  std::optional<MetricsServer> metrics_;
  SystemdNotifier notifier_;
  bool stopping_ = false;
};

}  // namespace

ExitCode run_daemon(const std::filesystem::path& config_file, config::Config config,
                    const std::optional<config::Secret>& password, store::Store& store, Log& log) {
  Daemon daemon(config_file, std::move(config), password, store, log);
  return daemon.run();
}

}  // namespace pnsync
