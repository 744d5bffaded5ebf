// SPDX-License-Identifier: MIT
// Log lines to stderr: plain text on a terminal or a file, prefixed with syslog priorities when
// the journal reads us. Passed by reference to whoever logs; there is no global logger.
#pragma once

#include <cstdio>
#include <mutex>
#include <string_view>

#include "common/log_level.hpp"

namespace pnsync {

class Log {
public:
  explicit Log(LogLevel level = LogLevel::Info, std::FILE* sink = stderr);
  void set_level(LogLevel level) { level_ = level; }
  bool enabled(LogLevel level) const { return static_cast<int>(level) <= static_cast<int>(level_); }

  void write(LogLevel level, std::string_view message);
  void error(std::string_view message) { write(LogLevel::Error, message); }
  void warning(std::string_view message) { write(LogLevel::Warning, message); }
  void info(std::string_view message) { write(LogLevel::Info, message); }
  void debug(std::string_view message) {
    if (enabled(LogLevel::Debug)) write(LogLevel::Debug, message);
  }
  // A live progress line shares the terminal: it is erased before each log line and redrawn by
  // its owner afterwards.
  void set_status_line(bool active) { status_line_ = active; }

private:
  LogLevel level_;
  std::FILE* sink_;
  bool journal_;
  bool status_line_ = false;  // $JOURNAL_STREAM set: systemd reads "<N>" priority prefixes
  std::mutex mutex_;
};

}  // namespace pnsync
