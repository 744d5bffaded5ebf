// SPDX-License-Identifier: MIT
// `pnsyncctl doctor`: pnsyncctl only speaks the control protocol, and a running daemon is not
// needed to diagnose one that will not start, so the checks are pnsyncd's own (`pnsyncd
// --doctor`). This finds pnsyncd and hands over to it; its output and exit status are doctor's.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "ctl/options.hpp"

namespace pnsync::ctl {

inline constexpr std::string_view kDefaultConfig = "/etc/pnsync/pnsync.yaml";

// Where pnsyncd may be, in the order tried: beside an installed pnsyncctl (../sbin), in the build
// tree (../daemon), in the same directory, on $PATH (`path_env`, ':'-separated; an empty entry
// is the current directory), and /usr/sbin.
std::vector<std::filesystem::path> pnsyncd_candidates(const std::filesystem::path& self_dir,
                                                      std::string_view path_env);

// The first candidate that is an executable regular file.
std::optional<std::filesystem::path> find_executable(
    const std::vector<std::filesystem::path>& candidates);

// Runs `pnsyncd --doctor --config FILE` (FILE: --config, else kDefaultConfig) in place of this
// process. Returns only when it cannot: a usage error (2), or pnsyncd not found or not runnable
// (127, every place tried named).
int run_doctor(const Invocation& invocation);

}  // namespace pnsync::ctl
