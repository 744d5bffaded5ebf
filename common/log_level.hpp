// SPDX-License-Identifier: MIT
// How much the log says, and the syslog priority each line carries for the journal. Its own
// header so that config/ (the `log_level` setting) names the same type the log uses.
#pragma once

namespace pnsync {

enum class LogLevel { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

}  // namespace pnsync
