// SPDX-License-Identifier: MIT
// Text helpers both programs share: pnsyncd's log and summary, pnsyncctl's terminal output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pnsync {

// 377110 -> "377,110".
std::string group_digits(std::int64_t value);

// Text that came from outside — a listing's file names, a server's error page or header, a CSV
// header, a file's last_error — made safe to write to a log or a terminal. Control characters
// (C0, DEL and the C1 range) become visible escapes ("\n", "\r", "\t", "\x1b", "\u009b") and so do
// bytes that are not UTF-8 ("\xff"), so a name can neither start a new log line that looks like
// pnsyncd's own nor send the terminal an escape sequence. Printable UTF-8 passes unchanged.
std::string printable(std::string_view text);

}  // namespace pnsync
