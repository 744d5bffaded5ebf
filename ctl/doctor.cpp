// SPDX-License-Identifier: MIT
#include "ctl/doctor.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ctl/exit_status.hpp"

namespace pnsync::ctl {

namespace {

// The directory of the running binary (/proc/self/exe), empty when it cannot be read.
std::filesystem::path self_dir() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : self.parent_path();
}

std::string joined(const std::vector<std::filesystem::path>& paths) {
  std::string text;
  for (const auto& path : paths) text += (text.empty() ? "" : ", ") + path.string();
  return text;
}

}  // namespace

std::vector<std::filesystem::path> pnsyncd_candidates(const std::filesystem::path& self_dir,
                                                      std::string_view path_env) {
  std::vector<std::filesystem::path> candidates;
  if (!self_dir.empty()) {
    candidates.push_back((self_dir / "../sbin/pnsyncd").lexically_normal());
    candidates.push_back((self_dir / "../daemon/pnsyncd").lexically_normal());
    candidates.push_back(self_dir / "pnsyncd");
  }
  while (!path_env.empty()) {
    const std::size_t colon = path_env.find(':');
    const std::string_view entry = path_env.substr(0, colon);
    candidates.push_back(std::filesystem::path(entry.empty() ? "." : entry) / "pnsyncd");
    if (colon == std::string_view::npos) break;
    path_env.remove_prefix(colon + 1);
  }
  candidates.emplace_back("/usr/sbin/pnsyncd");
  return candidates;
}

std::optional<std::filesystem::path> find_executable(
    const std::vector<std::filesystem::path>& candidates) {
  for (const auto& candidate : candidates) {
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

int run_doctor(const Invocation& invocation) {
  if (!invocation.args.empty() || invocation.json) {
    std::fputs(
        "pnsyncctl: doctor takes no arguments and has no --json output; usage: pnsyncctl doctor "
        "[--config FILE]\nTry 'pnsyncctl --help'.\n",
        stderr);
    return code(ExitStatus::Usage);
  }
  const char* path_env = std::getenv("PATH");
  const auto candidates = pnsyncd_candidates(self_dir(), path_env ? path_env : "");
  const auto pnsyncd = find_executable(candidates);
  if (!pnsyncd) {
    std::fprintf(stderr,
                 "pnsyncctl: doctor needs pnsyncd, which does the checks, and it was not found "
                 "(tried %s); install the pnsync package or put pnsyncd on $PATH\n",
                 joined(candidates).c_str());
    return code(ExitStatus::NoPnsyncd);
  }
  std::string binary = pnsyncd->string();
  std::string config = invocation.config.value_or(std::filesystem::path(kDefaultConfig)).string();
  char doctor[] = "--doctor";
  char config_flag[] = "--config";
  char* argv[] = {binary.data(), doctor, config_flag, config.data(), nullptr};
  std::fflush(nullptr);
  ::execv(binary.c_str(), argv);
  std::fprintf(stderr, "pnsyncctl: cannot run %s: %s\n", binary.c_str(), std::strerror(errno));
  return code(ExitStatus::NoPnsyncd);
}

}  // namespace pnsync::ctl
