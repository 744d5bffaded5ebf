// SPDX-License-Identifier: MIT
// Running a program (pnsyncctl, pnsyncd --doctor) to completion with its output captured, for the
// tests that check what a user sees from the real binaries.
#pragma once

#include <string>
#include <vector>

#include "tests/support/sandbox.hpp"

namespace pnsync::test {

struct ProcessRun {
  int status = -1;  // exit status; -1 when it was killed by a signal
  std::string out;
  std::string err;
};

// Runs `command` (command[0] looked up in $PATH, so a prefix such as setpriv works) and waits.
// stdout and stderr go through files in `scratch`. `env` empty: this process's environment;
// otherwise exactly `env`. Throws std::runtime_error when the program cannot be started.
ProcessRun run_process(const Sandbox& scratch, std::vector<std::string> command,
                       std::vector<std::string> env = {});

}  // namespace pnsync::test
