// SPDX-License-Identifier: MIT
#include "daemon/disk/safe_path.hpp"

#include <cstddef>

namespace pnsync {
namespace {

constexpr std::size_t kMaxSegmentBytes = 255;  // NAME_MAX on Linux file systems
constexpr std::size_t kMaxSegments = 64;
constexpr std::size_t kMaxPathBytes = 4096;  // PATH_MAX

bool is_forbidden_byte(unsigned char c) {
  return c < 0x20 || c == 0x7f || c == '/' || c == '\\';
}

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char lo = 0x80;  // bounds for the second byte
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;  // stray continuation byte, C0/C1 overlong lead, or F5..FF
    }
    if (n - i < length) return false;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < lo || second > hi) return false;
    for (std::size_t k = 2; k < length; ++k) {
      if (!is_continuation(static_cast<unsigned char>(text[i + k]))) return false;
    }
    i += length;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

bool is_in_work_area(std::string_view path) {
  return path.substr(0, path.find('/')) == kWorkAreaName;
}

bool is_safe_segment(std::string_view name) {
  if (name.empty() || name.size() > kMaxSegmentBytes) return false;
  if (name == "." || name == "..") return false;
  for (const char ch : name) {
    if (is_forbidden_byte(static_cast<unsigned char>(ch))) return false;
  }
  return is_valid_utf8(name);
}

bool is_safe_relative_path(std::string_view path) {
  if (path.empty() || path.size() > kMaxPathBytes) return false;
  // Every segment, including the first and the last, must be a safe name: this refuses a
  // leading '/' (absolute), "a//b" and a trailing '/' (empty segments) as well as "." and "..".
  // Since nothing is rewritten, an accepted path is already in normal form.
  std::size_t segments = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (++segments > kMaxSegments || !is_safe_segment(segment)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

std::optional<std::string> safe_relative_path(std::string_view path) {
  if (!is_safe_relative_path(path)) return std::nullopt;
  return std::string(path);
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (text.size() - i < 3) return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const auto byte = static_cast<unsigned char>(hi * 16 + lo);
    // An encoded '/' would smuggle a separator into a single name; an encoded NUL would cut the
    // name short in every C API below us.
    if (byte == '/' || byte == 0) return std::nullopt;
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  return out;
}

std::string percent_encode_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || c == '/') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

}  // namespace pnsync
