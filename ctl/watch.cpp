// SPDX-License-Identifier: MIT
#include "ctl/watch.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>

namespace pnsync::ctl {
namespace {

// SIGINT and SIGTERM are blocked and taken with sigtimedwait(), which doubles as the pause
// between frames: no handler, no global flag, and a key press ends the wait at once.
class BlockedSignals {
public:
  BlockedSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &set_, &previous_);
  }
  ~BlockedSignals() { ::sigprocmask(SIG_SETMASK, &previous_, nullptr); }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;
  // True when a signal arrived within `seconds`.
  bool wait(int seconds) {
    const timespec timeout{seconds, 0};
    for (;;) {
      if (::sigtimedwait(&set_, nullptr, &timeout) >= 0) return true;
      if (errno != EINTR) return false;  // EAGAIN: the time is up
    }
  }

private:
  sigset_t set_{};
  sigset_t previous_{};
};

// Hides the cursor while frames are drawn over each other, and shows it again however
// watch ends.
class Screen {
public:
  explicit Screen(bool tty) : tty_(tty) {
    if (tty_) std::fputs("\033[?25l\033[2J", stdout);
  }
  ~Screen() {
    if (tty_) std::fputs("\033[?25h", stdout);
    std::fflush(stdout);
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
  void draw(const std::string& frame) const {
    if (!tty_) {
      std::fputs(frame.c_str(), stdout);
      std::fflush(stdout);
      return;
    }
    // Home, then each line cleared to its end, then the rest of the screen: no flicker from a
    // full clear, and no leftovers when a frame is shorter than the last.
    std::string text = "\033[H";
    std::size_t start = 0;
    for (std::size_t end; (end = frame.find('\n', start)) != std::string::npos; start = end + 1)
      text += frame.substr(start, end - start) + "\033[K\n";
    text += "\033[J";
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }

private:
  bool tty_;
};

}  // namespace

ExitStatus watch(ControlClient& client, const protocol::Request& request, OutputOptions options) {
  BlockedSignals signals;
  options.json_indent = -1;
  Screen screen(options.render.tty && !options.json);
  for (;;) {
    Result<protocol::Response> answer = client.call(request);
    if (!answer) {
      std::fprintf(stderr, "pnsyncctl: %s\n", answer.error().message.c_str());
      return answer.error().kind == ErrorKind::Network ? ExitStatus::Unreachable
                                                       : ExitStatus::DaemonError;
    }
    if (!answer->ok()) return print_answer(*answer, request, options, stdout, stderr);
    options.render.now_unix = std::time(nullptr);
    std::string frame = answer_text(*answer, request, options);
    if (!options.json && !options.render.tty) frame += "\n";  // a blank line between frames
    screen.draw(frame);
    if (signals.wait(1)) return ExitStatus::Ok;
  }
}

}  // namespace pnsync::ctl
