// SPDX-License-Identifier: MIT
// Whether dest is still the directory this mirror's verified files were published to. A network
// file system that did not mount leaves an empty directory, or none, where the mirror was; a pass
// that went on would fetch the whole mirror into the mount point, filling the wrong disk and hiding
// the fault behind a successful exit. So once a pass has run in dest, pnsyncd keeps a marker file
// there whose name only this state knows, and a later pass starts only when the marker is there,
// when the state has nothing to lose, or when some verified file is still there (then the marker
// was lost, not the storage: e.g. a user removed the work area).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pnsync {

// What the state says about the mirror's destination.
struct DestRecord {
  std::optional<std::string> marker;  // the marker's file name, once a pass wrote one
  std::int64_t verified_files = 0;    // selected or kept
};

enum class DestVerdict {
  Fresh,     // no marker yet and nothing verified: a first pass
  Marked,    // the marker is there
  Unmarked,  // no marker, but verified files are there: the marker goes back
  Refetch,   // the operator said to fetch everything again (pnsyncctl refetch)
  Missing,   // dest does not exist
  Foreign,   // dest exists without the marker and holds none of the verified files
};

struct DestCheck {
  DestVerdict verdict = DestVerdict::Fresh;
  std::string message;  // for Missing and Foreign: what is wrong and how to go on
  bool may_start() const {
    return verdict != DestVerdict::Missing && verdict != DestVerdict::Foreign;
  }
  // The pass must (re)write the marker before it writes anything else.
  bool writes_marker() const { return may_start() && verdict != DestVerdict::Marked; }
};

// Looks, creates nothing. `any_verified_present` is asked only when the marker is missing (it may
// stat every verified file). `mirror` names the mirror in messages.
DestCheck check_destination(const std::filesystem::path& dest, std::string_view mirror,
                            const DestRecord& record,
                            const std::function<bool()>& any_verified_present, bool refetch);

// A new marker name: "mirror-" and 128 random bits in hex.
std::string new_marker_name();

// What the marker file says to someone who finds it.
std::string marker_text(std::string_view mirror);

}  // namespace pnsync
