// SPDX-License-Identifier: MIT
#include "daemon/plan/dest_guard.hpp"

#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <random>

#include "common/text.hpp"
#include "daemon/disk/safe_path.hpp"

namespace pnsync {
namespace {

std::string how_to_go_on(std::string_view mirror) {
  const std::string name(mirror);
  return " Nothing was created or fetched, and the state is kept. Mount it (RequiresMountsFor= in "
         "the unit waits for the mount), or set `dest` to where the mirror is; if dest is empty on "
         "purpose, `pnsyncctl refetch " +
         name + "` (or `pnsyncd --once --refetch --mirror " + name + "`) fetches everything again.";
}

std::string verified_phrase(std::int64_t verified) {
  return group_digits(verified) + (verified == 1 ? " verified file" : " verified files");
}

}  // namespace

DestCheck check_destination(const std::filesystem::path& dest, std::string_view mirror,
                            const DestRecord& record,
                            const std::function<bool()>& any_verified_present, bool refetch) {
  if (refetch) return {DestVerdict::Refetch, {}};
  const bool has_history = record.marker.has_value() || record.verified_files > 0;
  struct stat info {};
  if (::stat(dest.c_str(), &info) != 0) {
    if (!has_history) return {DestVerdict::Fresh, {}};
    const std::string held = record.verified_files > 0
                                 ? "holds " + verified_phrase(record.verified_files) + " of " +
                                       std::string(mirror) + " there"
                                 : "records a pass of " + std::string(mirror) + " there";
    return {DestVerdict::Missing, dest.string() + " does not exist, but the state " + held +
                                      ": not mounted?" + how_to_go_on(mirror)};
  }
  if (record.marker) {
    const auto marker = dest / kWorkAreaName / *record.marker;
    if (::lstat(marker.c_str(), &info) == 0 && S_ISREG(info.st_mode))
      return {DestVerdict::Marked, {}};
  }
  if (record.verified_files == 0) {
    if (!record.marker) return {DestVerdict::Fresh, {}};
    return {DestVerdict::Foreign,
            dest.string() + " has lost " + std::string(mirror) + "'s marker (" +
                std::string(kWorkAreaName) + "/" + *record.marker +
                ") and the partial files with it: not mounted?" + how_to_go_on(mirror)};
  }
  if (any_verified_present()) return {DestVerdict::Unmarked, {}};
  return {DestVerdict::Foreign, dest.string() + " holds 0 of " +
                                    verified_phrase(record.verified_files) + " of " +
                                    std::string(mirror) + ": not mounted?" + how_to_go_on(mirror)};
}

std::string new_marker_name() {
  std::random_device entropy;
  std::string name = "mirror-";
  for (int word = 0; word < 4; ++word) {
    std::array<char, 9> hex{};
    std::snprintf(hex.data(), hex.size(), "%08x", static_cast<unsigned>(entropy()));
    name += hex.data();
  }
  return name;
}

std::string marker_text(std::string_view mirror) {
  return "pnsync mirror of " + std::string(mirror) +
         ".\npnsyncd looks for this file before each pass: without it, a destination that holds "
         "none of the mirror's files is taken for storage that did not mount, and nothing is "
         "fetched. Keep it.\n";
}

}  // namespace pnsync
