// SPDX-License-Identifier: MIT
// parse_listing on arbitrary bytes: no crash, no undefined behaviour, and whatever comes out is
// something the engine may turn into a path under dest.
#include "daemon/disk/safe_path.hpp"
#include "daemon/listing/listing.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view html(reinterpret_cast<const char*>(data), size);
  const pnsync::Listing listing = pnsync::parse_listing(html);

  for (std::size_t i = 0; i < listing.entries.size(); ++i) {
    const pnsync::ListingEntry& entry = listing.entries[i];
    // One safe segment: never ".", "..", empty, a '/', a backslash, a control byte, bad UTF-8.
    FUZZ_CHECK(pnsync::is_safe_segment(entry.name));
    FUZZ_CHECK(entry.name != "." && entry.name != "..");
    // Sorted by name and unique: strictly increasing.
    if (i > 0) FUZZ_CHECK(listing.entries[i - 1].name < entry.name);
    // A size is exact bytes, and only files carry one.
    if (entry.size) {
      FUZZ_CHECK(*entry.size >= 0);
      FUZZ_CHECK(entry.kind == pnsync::EntryKind::File);
    }
  }
  return 0;
}
