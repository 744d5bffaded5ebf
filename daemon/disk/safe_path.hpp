// SPDX-License-Identifier: MIT
// Decides whether a name taken from the server may become a path under dest. Everything the
// server says is hostile until this says otherwise.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pnsync {

// dest's folder of pnsync's own (partial files): never a name the server may give.
inline constexpr std::string_view kWorkAreaName = ".pnsync-partial";
// True when `path`'s first segment is kWorkAreaName: a manifest line or listing entry there
// would be fetched and published inside the work area.
bool is_in_work_area(std::string_view path);

// A relative path ("files/p10/x.dcm"), '/' separated, already percent-decoded. Returns the
// normalised path, or nullopt when it is empty, absolute, contains "." or ".." segments, empty
// segments, backslashes, NUL or other control characters (< 0x20, 0x7f), a segment longer than
// 255 bytes, more than 64 segments, or a total length over 4096 bytes, or is not valid UTF-8.
std::optional<std::string> safe_relative_path(std::string_view path);
// The same rules without the copy: true when safe_relative_path(path) would return `path`.
bool is_safe_relative_path(std::string_view path);

// One path segment (a file or directory name from a listing): the same rules, and no '/'.
bool is_safe_segment(std::string_view name);

// Decodes %XX escapes. nullopt for a malformed escape or an encoded '/' or NUL ("%2f", "%00"),
// which no well-formed listing produces.
std::optional<std::string> percent_decode(std::string_view text);

// Escapes a relative path for use in a URL: unreserved characters and '/' stay, the rest is %XX.
std::string percent_encode_path(std::string_view path);

}  // namespace pnsync
