// SPDX-License-Identifier: MIT
#include "common/log.hpp"

#include <cstdlib>
#include <ctime>
#include <string>

#include "common/text.hpp"

namespace pnsync {

Log::Log(LogLevel level, std::FILE* sink)
    : level_(level), sink_(sink), journal_(std::getenv("JOURNAL_STREAM") != nullptr) {}

void Log::write(LogLevel level, std::string_view message) {
  if (!enabled(level)) return;
  // One message, one line: names and server text inside it cannot forge another line or drive
  // the terminal.
  const std::string line = printable(message);
  message = line;
  std::lock_guard lock(mutex_);
  if (status_line_) std::fputs("\r\033[K", sink_);
  if (journal_) {
    std::fprintf(sink_, "<%d>%.*s\n", static_cast<int>(level), static_cast<int>(message.size()),
                 message.data());
  } else {
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
    static constexpr const char* kNames[] = {"",        "",       "",     "error",
                                             "warning", "notice", "info", "debug"};
    std::fprintf(sink_, "%s %s: %.*s\n", stamp, kNames[static_cast<int>(level)],
                 static_cast<int>(message.size()), message.data());
  }
  std::fflush(sink_);
}

}  // namespace pnsync
