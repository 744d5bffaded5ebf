// SPDX-License-Identifier: MIT
// safe_relative_path, is_safe_segment, percent_decode and percent_encode_path on arbitrary bytes:
// what is accepted can never leave dest, is already normal (checking it again changes nothing),
// and the four functions agree with each other.
#include "daemon/disk/safe_path.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

// What no accepted path may hold: a way out of dest or a byte that C APIs read differently.
void check_safe(std::string_view path) {
  FUZZ_CHECK(!path.empty());
  FUZZ_CHECK(path.front() != '/');
  FUZZ_CHECK(path.back() != '/');
  FUZZ_CHECK(path.find('\\') == std::string_view::npos);
  FUZZ_CHECK(path.find('\0') == std::string_view::npos);
  FUZZ_CHECK(path.find("//") == std::string_view::npos);
  FUZZ_CHECK(std::none_of(path.begin(), path.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  }));
  // No "." or ".." segment ("a..b" and ".hidden" are ordinary names).
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view segment = path.substr(start, slash - start);
    FUZZ_CHECK(segment != "." && segment != "..");
    FUZZ_CHECK(segment.size() <= 255);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  FUZZ_CHECK(path.size() <= 4096);
}

// RFC 3629 written the other way round from safe_path.cpp: decode each code point, then judge
// it (shortest form, no surrogate, at most U+10FFFF).
bool reference_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 1;
    std::uint32_t cp = lead;
    if (lead >= 0x80) {
      if ((lead & 0xE0) == 0xC0) {
        length = 2;
        cp = lead & 0x1F;
      } else if ((lead & 0xF0) == 0xE0) {
        length = 3;
        cp = lead & 0x0F;
      } else if ((lead & 0xF8) == 0xF0) {
        length = 4;
        cp = lead & 0x07;
      } else {
        return false;
      }
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::uint32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kShortest[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

// is_safe_segment as its header states it.
bool reference_segment(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '/' || c == '\\') return false;
  }
  return reference_utf8(name);
}

// safe_relative_path as its header states it.
bool reference_path(std::string_view path) {
  if (path.empty() || path.size() > 4096) return false;
  std::size_t segments = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    if (++segments > 64 || !reference_segment(path.substr(start, slash - start))) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

// Every check on one candidate path.
void check_path(std::string_view input) {
  const std::optional<std::string> safe = pnsync::safe_relative_path(input);
  const bool has_slash = input.find('/') != std::string_view::npos;
  // A segment is a path of one segment, and both follow the rules as written.
  FUZZ_CHECK(pnsync::is_safe_segment(input) == (safe.has_value() && !has_slash));
  FUZZ_CHECK(pnsync::is_safe_segment(input) == reference_segment(input));
  FUZZ_CHECK(safe.has_value() == reference_path(input));
  if (!safe) return;
  check_safe(*safe);
  // Idempotent: a safe path is returned as it is, and checking it again changes nothing.
  FUZZ_CHECK(*safe == input);
  const std::optional<std::string> again = pnsync::safe_relative_path(*safe);
  FUZZ_CHECK(again.has_value() && *again == *safe);

  // A safe path survives the trip into a URL and back, and the URL holds no raw byte that a
  // server could read as a separator, query or fragment.
  const std::string encoded = pnsync::percent_encode_path(*safe);
  FUZZ_CHECK(std::all_of(encoded.begin(), encoded.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '/' || c == '%';
  }));
  const std::optional<std::string> decoded = pnsync::percent_decode(encoded);
  FUZZ_CHECK(decoded.has_value() && *decoded == *safe);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_path(input);

  // The listing's path: percent-decoding first, then the safety check.
  const std::optional<std::string> decoded = pnsync::percent_decode(input);
  if (decoded) {
    // Decoding never makes a separator or a NUL that was not literally there.
    FUZZ_CHECK(std::count(decoded->begin(), decoded->end(), '/') ==
               std::count(input.begin(), input.end(), '/'));
    FUZZ_CHECK(std::count(decoded->begin(), decoded->end(), '\0') ==
               std::count(input.begin(), input.end(), '\0'));
    FUZZ_CHECK(decoded->size() <= input.size());
    check_path(*decoded);
  }
  return 0;
}
