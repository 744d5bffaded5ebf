// SPDX-License-Identifier: MIT
#include "daemon/disk/safe_path.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>

using pnsync::is_safe_segment;
using pnsync::percent_decode;
using pnsync::percent_encode_path;
using pnsync::safe_relative_path;

namespace {

std::string repeat(std::string_view unit, std::size_t times, std::string_view separator = "") {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) {
    if (i > 0) out += separator;
    out += unit;
  }
  return out;
}

}  // namespace

TEST_CASE("safe_relative_path keeps ordinary relative paths as they are", "[safe_path]") {
  const std::string path =
      GENERATE(as<std::string>{}, "LICENSE.txt",
               "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm",
               "files/p10/p10000032/s50414267.txt", "mimic-cxr-2.0.0-metadata.csv.gz",
               "notes & errata v2.txt", "time:stamp.txt",
               ".hidden",  // a dot-file is a name, not a "." segment
               "..a", "a..", "a/...", "日本語/ファイル.txt",
               "emoji/\xF0\x9F\x98\x80.png",        // U+1F600, four bytes
               repeat("a", 255),                    // the longest name
               repeat("a", 64, "/"),                // the most segments
               repeat(repeat("b", 255), 16, "/"));  // 4095 bytes in total
  CAPTURE(path);
  const auto safe = safe_relative_path(path);
  REQUIRE(safe.has_value());
  CHECK(*safe == path);
}

TEST_CASE("safe_relative_path refuses every hostile shape", "[safe_path]") {
  auto [path, why] = GENERATE(table<std::string, std::string_view>({
      {"", "empty"},
      {"../x", "parent segment first"},
      {"..", "parent"},
      {"a/..", "parent segment last"},
      {"a/../b", "parent segment inside"},
      {".", "current directory"},
      {"./a", "current-directory segment"},
      {"a/./b", "current-directory segment inside"},
      {"/etc/passwd", "absolute"},
      {"/", "root"},
      {"a//b", "empty segment"},
      {"a/", "trailing slash (a file path never has one)"},
      {"a\\b", "backslash"},
      {"..\\..\\windows", "backslash traversal"},
      {"a\x01"
       "b",
       "control character"},
      {"a\nb", "newline"},
      {"a\rb", "carriage return"},
      {"\t", "tab"},
      {"\x1b[31mred", "terminal escape"},
      {"a\x7f", "DEL"},
      {std::string("a\0b", 3), "embedded NUL"},
      {std::string("\0", 1), "only a NUL"},
      {repeat("a", 256), "segment of 256 bytes"},
      {repeat("a", 300), "segment of 300 bytes"},
      {repeat("a", 65, "/"), "65 segments"},
      {repeat("a", 70, "/"), "70 segments"},
      {repeat(repeat("b", 255), 16, "/") + "/c", "4097 bytes in total"},
      {"\xff", "invalid byte"},
      {"a\x80"
       "b",
       "stray continuation byte"},
      {"\xc0\xaf", "overlong '/'"},
      {"\xe0\x80\xae", "overlong '.'"},
      {"\xed\xa0\x80", "UTF-16 surrogate"},
      {"\xf4\x90\x80\x80", "above U+10FFFF"},
      {"\xe6\x97", "truncated sequence"},
      {"\xf8\x88\x80\x80\x80", "five-byte form"},
  }));
  CAPTURE(why);
  CHECK_FALSE(safe_relative_path(path).has_value());
}

TEST_CASE("embedded NUL is refused through a string_view of explicit length", "[safe_path]") {
  constexpr std::string_view with_nul("files/a\0.txt", 12);
  REQUIRE(with_nul.size() == 12);
  CHECK_FALSE(safe_relative_path(with_nul).has_value());
  CHECK_FALSE(is_safe_segment(with_nul.substr(6)));
}

TEST_CASE("is_safe_segment is safe_relative_path for one name without '/'", "[safe_path]") {
  auto [name, safe] = GENERATE(table<std::string, bool>({
      {"a", true},
      {"LICENSE.txt", true},
      {repeat("x", 255), true},
      {repeat("x", 256), false},
      {"", false},
      {".", false},
      {"..", false},
      {"...", true},
      {"a/b", false},
      {"/", false},
      {"a\\b", false},
      {"a\x1f", false},
      {"\xc3\xa9t\xc3\xa9", true},  // "été"
      {"\xc3", false},
  }));
  CAPTURE(name);
  CHECK(is_safe_segment(name) == safe);
}

TEST_CASE("percent_decode decodes escapes and refuses the malformed and the smuggling",
          "[safe_path]") {
  auto [text, decoded] = GENERATE(table<std::string_view, std::optional<std::string>>({
      {"plain.txt", "plain.txt"},
      {"a%20b", "a b"},
      {"%41%62%63", "Abc"},
      {"%e6%97%a5", "\xe6\x97\xa5"},  // lowercase hex (Apache)
      {"%E6%97%A5", "\xe6\x97\xa5"},  // uppercase hex (nginx)
      {"100%25", "100%"},
      {"%2525", "%25"},  // decoded once, never twice
      {"a+b", "a+b"},    // '+' is not a space in a path
      {"%2e%2e", ".."},  // decodes; safe_relative_path refuses it next
      {"", ""},
      {"%2f", std::nullopt},  // an encoded separator
      {"%2F", std::nullopt},
      {"a%2fb", std::nullopt},
      {"%00", std::nullopt},  // an encoded NUL
      {"%", std::nullopt},
      {"%4", std::nullopt},
      {"a%", std::nullopt},
      {"%zz", std::nullopt},
      {"%g0", std::nullopt},
      {"%-1", std::nullopt},
  }));
  CAPTURE(text);
  CHECK(percent_decode(text) == decoded);
}

TEST_CASE("a decoded traversal is still refused", "[safe_path]") {
  const std::string_view escaped = GENERATE(as<std::string_view>{}, "%2e%2e", "%2E%2E", "%2e",
                                            "%2e%2e%5cx", "a%0ab", "%c0%ae%c0%ae");
  CAPTURE(escaped);
  const auto decoded = percent_decode(escaped);
  REQUIRE(decoded.has_value());
  CHECK_FALSE(safe_relative_path(*decoded).has_value());
  CHECK_FALSE(is_safe_segment(*decoded));
}

TEST_CASE("percent_encode_path escapes all but unreserved characters and '/'", "[safe_path]") {
  auto [path, encoded] = GENERATE(table<std::string_view, std::string_view>({
      {"files/p10/x.dcm", "files/p10/x.dcm"},
      {"A-Z_a~z.0-9", "A-Z_a~z.0-9"},
      {"a b", "a%20b"},
      {"notes & errata.txt", "notes%20%26%20errata.txt"},
      {"time:stamp", "time%3Astamp"},
      {"100%", "100%25"},
      {"q?x#y", "q%3Fx%23y"},
      {"a+b", "a%2Bb"},
      {"\xe6\x97\xa5", "%E6%97%A5"},
      {"", ""},
  }));
  CAPTURE(path);
  CHECK(percent_encode_path(path) == encoded);
}

TEST_CASE("percent_encode_path and percent_decode round-trip every byte but NUL", "[safe_path]") {
  std::string all;
  for (int c = 1; c < 256; ++c) {
    if (c != '/') all.push_back(static_cast<char>(c));
  }
  const std::string path = "dir/" + all + "/end";
  // Each segment decodes back on its own ('/' stays literal and is never encoded).
  const std::string encoded = percent_encode_path(path);
  CHECK(encoded.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/%") ==
        std::string::npos);
  CHECK(percent_decode(encoded) == path);
}
