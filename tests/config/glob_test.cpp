// SPDX-License-Identifier: MIT
// config/glob: matching as (pattern, path) rows, crawl pruning (may_match_below,
// matches_all_below), refused patterns, and a differential check against a naive recursive
// matcher written straight from the documented rules.
#include "config/glob.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using pnsync::config::Glob;

namespace {

Glob compile(const std::string& pattern) {
  auto glob = Glob::compile(pattern);
  if (!glob.value) FAIL("pattern " << pattern << " refused: " << glob.error);
  return std::move(*glob.value);
}

}  // namespace

TEST_CASE("glob matching", "[glob]") {
  auto [pattern, path, expected] = GENERATE(table<std::string, std::string, bool>({
      // A pattern without '/' is a name at any depth (gitignore, rsync).
      {"*.csv.gz", "mimic-cxr-2.0.0-metadata.csv.gz", true},
      {"*.csv.gz", "files/p10/extra.csv.gz", true},
      {"*.csv.gz", "cxr-record-list.csv", false},
      {"LICENSE.txt", "LICENSE.txt", true},
      {"LICENSE.txt", "docs/LICENSE.txt", true},
      {"LICENSE.txt", "LICENSE.txt.bak", false},
      {"*", "a", true},
      {"*", "files/p10/p10000032/s50414267.txt", true},
      {"*", ".hidden", true},  // '.' is not special
      // A leading '/' anchors at the version root.
      {"/*.csv.gz", "mimic-cxr-2.0.0-split.csv.gz", true},
      {"/*.csv.gz", "files/x.csv.gz", false},
      {"/LICENSE.txt", "LICENSE.txt", true},
      // A pattern with '/' is anchored.
      {"files/*", "files/a", true},
      {"files/*", "files/a/b", false},
      {"files/*", "x/files/a", false},
      {"p10/**", "files/p10/x", false},
      // "**" at the end: everything inside, not the directory's own name.
      {"files/p10/**", "files/p10/p10000032/s50414267/a.dcm", true},
      {"files/p10/**", "files/p10/p10000032/s50414267.txt", true},
      {"files/p10/**", "files/p10", false},
      {"files/p10/**", "files/p100/x", false},
      {"files/p10/**", "files/p11/p11000011/s5.txt", false},
      {"**", "x", true},
      {"**", "a/b/c", true},
      {"/**", "a/b", true},
      // "**" at the start: zero or more leading segments.
      {"**/*.dcm", "a.dcm", true},
      {"**/*.dcm", "files/p10/p10000032/s50414267/a.dcm", true},
      {"**/*.dcm", "a.dcm.txt", false},
      {"**/s5*", "files/p10/p1/s50414267", true},
      // "**" in the middle: zero or more segments between.
      {"a/**/b", "a/b", true},
      {"a/**/b", "a/x/b", true},
      {"a/**/b", "a/x/y/z/b", true},
      {"a/**/b", "a/x/y/c", false},
      {"a/**/b", "a/b/c", false},
      {"a/**/b", "b", false},
      {"a/**/b", "x/a/b", false},
      {"a/**/**/b", "a/b", true},
      {"a/**/b/**/c", "a/b/c", true},
      {"a/**/b/**/c", "a/x/b/y/b/z/c", true},
      {"files/**/s*/*.dcm", "files/p10/p10000032/s50414267/a.dcm", true},
      {"files/**/s*/*.dcm", "files/p10/p10000032/s50414267.txt", false},
      // '*' within a segment, with backtracking.
      {"files/p1*/x", "files/p1/x", true},
      {"files/p1*/x", "files/p19/x", true},
      {"files/p1*/x", "files/p2/x", false},
      {"*a*b*c", "xaybzc", true},
      {"*a*b*c", "abcabc", true},
      {"*a*b*c", "xaybzcd", false},
      {"a*", "a", true},
      {"*.dcm", ".dcm", true},
      // '?' is one character: one UTF-8 code point.
      {"files/p1?/**", "files/p10/x", true},
      {"files/p1?/**", "files/p1/x", false},
      {"files/p1?/**", "files/p100/x", false},
      {"?", "é", true},
      {"??", "é", false},
      {"caf?", "café", true},
      {"?x", "\xF0\x9F\x98\x80x", true},  // U+1F600, four bytes
      // Bracket expressions.
      {"[abc].txt", "b.txt", true},
      {"[abc].txt", "d.txt", false},
      {"files/p1[0-2]/**", "files/p12/x", true},
      {"files/p1[0-2]/**", "files/p13/x", false},
      {"[!a]*", "abc", false},
      {"[!a]*", "bcd", true},
      {"[^a]x", "bx", true},
      {"[^a]x", "ax", false},
      {"[]a]", "]", true},
      {"[]a]", "a", true},
      {"[!]]", "]", false},
      {"[a-]", "-", true},
      {"[-a]", "-", true},
      {"[é-ë]", "ê", true},
      {"[é-ë]", "e", false},
      {"[!é]", "é", false},
      {"[!é]", "e", true},
      {"[*?]", "*", true},
      {"[*?]", "a", false},
      // Escapes.
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"a\\[1]", "a[1]", true},
      {"\\é", "é", true},
      // Names with spaces and Unicode, byte-exact.
      {"my file.txt", "dir/my file.txt", true},
      {"my*.txt", "my file.txt", true},
      {"données/*.csv", "données/a.csv", true},
      {"données/*.csv", "donnees/a.csv", false},
      {"café", "cafe\xCC\x81", false},  // NFC pattern, NFD name: no normalisation
      {"*.TXT", "a.txt", false},        // case-sensitive
      // Malformed paths never match.
      {"**", "a//b", false},
      {"**", "/a", false},
      {"**", "a/", false},
      {"**", "", false},
  }));
  INFO("pattern " << pattern << " path " << path);
  CHECK(compile(pattern).matches(path) == expected);
}

TEST_CASE("may_match_below prunes the crawl", "[glob]") {
  auto [pattern, dir, expected] = GENERATE(table<std::string, std::string, bool>({
      {"files/p10/**", "", true},
      {"files/p10/**", "files/", true},
      {"files/p10/**", "files", true},
      {"files/p10/**", "files/p10/", true},
      {"files/p10/**", "files/p10/p10000032/", true},
      {"files/p10/**", "files/p11/", false},
      {"files/p10/**", "files/p100/", false},
      {"files/p10/**", "other/", false},
      {"files/p1[0-2]/**", "files/p12/", true},
      {"files/p1[0-2]/**", "files/p13/", false},
      {"*.csv.gz", "files/p11/p11000011/", true},  // a name at any depth
      {"/*.csv.gz", "", true},
      {"/*.csv.gz", "files/", false},
      {"a/b", "a/", true},
      {"a/b", "a/b/", false},  // a/b is a file: nothing below it matches
      {"a/**/b", "a/x/y/", true},
      {"a/**/b", "c/", false},
      {"**/s5*/*.dcm", "files/p10/", true},
      {"files/*/x", "files/", true},
      {"files/*/x", "files/p10/", true},
      {"files/*/x", "files/p10/x/", false},
  }));
  INFO("pattern " << pattern << " dir " << dir);
  CHECK(compile(pattern).may_match_below(dir) == expected);
}

TEST_CASE("matches_all_below lets an exclude prune the crawl", "[glob]") {
  auto [pattern, dir, expected] = GENERATE(table<std::string, std::string, bool>({
      {"files/p11/**", "files/p11/", true},
      {"files/p11/**", "files/p11", true},
      {"files/p11/**", "files/p11/p11000011/", true},
      {"files/p11/**", "files/", false},
      {"files/p11/**", "files/p10/", false},
      {"**", "", true},
      {"*", "files/", true},
      {"/**", "files/p10/", true},
      {"a/**/b/**", "a/x/b/", true},
      {"a/**/b/**", "a/x/", false},
      {"*.dcm", "files/", false},
      {"files/*", "files/", false},
      {"**/*.dcm", "files/", false},
  }));
  INFO("pattern " << pattern << " dir " << dir);
  CHECK(compile(pattern).matches_all_below(dir) == expected);
}

TEST_CASE("refused patterns say why", "[glob]") {
  auto [pattern, expected] = GENERATE(table<std::string, std::string>({
      {"", "a pattern must not be empty"},
      {"/", "invalid pattern \"/\": names no file"},
      {"files/",
       "invalid pattern \"files/\": ends with '/'; patterns name files, so write "
       "\"files/**\""},
      {"a//b", "has an empty path segment"},
      {"//a", "has an empty path segment"},
      {"a/../b", "a \"..\" segment never matches"},
      {"./a", "a \".\" segment never matches"},
      {"a**b", "\"**\" must be a whole path segment"},
      {"files/p**", "\"**\" must be a whole path segment"},
      {"files/[p10", "unclosed '[' in \"[p10\""},
      {"[]", "unclosed '['"},
      {"[!]", "unclosed '['"},
      {"[z-a]", "is reversed"},
      {"[[:digit:]]", "character class names such as [:digit:] are not supported"},
      {"abc\\", "unfinished escape"},
      {"a\tb", "contains a control character"},
      {"a\xFF", "is not valid UTF-8"},
      {"a\xC0\xAF", "is not valid UTF-8"},  // overlong '/'
      {std::string(4097, 'a'), "longer than 4096 bytes"},
  }));
  INFO(pattern);
  const auto glob = Glob::compile(pattern);
  REQUIRE_FALSE(glob.value);
  CHECK_THAT(glob.error, Contains(expected));
}

TEST_CASE("at most 63 segments", "[glob]") {
  std::string pattern = "a";
  for (int i = 1; i < 63; ++i) pattern += "/a";
  CHECK(Glob::compile(pattern).value);
  CHECK_THAT(Glob::compile(pattern + "/a").error, Contains("more than 63 segments"));
  // The limit counts the segment that a trailing "**" implies.
  CHECK_THAT(Glob::compile(pattern + "/**").error, Contains("more than 63 segments"));
}

TEST_CASE("pattern() keeps the text as written", "[glob]") {
  CHECK(compile("*.csv.gz").pattern() == "*.csv.gz");
  CHECK(compile("/files/p10/**").pattern() == "/files/p10/**");
}

// ---- A differential check -------------------------------------------------------------------

namespace {

// Straight from the rules in glob.hpp, with plain recursion, on ASCII patterns without escapes.
bool naive_segment(std::string_view p, std::string_view s) {
  if (p.empty()) return s.empty();
  if (p[0] == '*')
    return naive_segment(p.substr(1), s) || (!s.empty() && naive_segment(p, s.substr(1)));
  if (s.empty()) return false;
  if (p[0] == '?') return naive_segment(p.substr(1), s.substr(1));
  if (p[0] == '[') {
    const std::size_t close = p.find(']', 2);
    const std::string_view set = p.substr(1, close - 1);
    const bool in = set.find(s[0]) != std::string_view::npos;
    return in && naive_segment(p.substr(close + 1), s.substr(1));
  }
  return p[0] == s[0] && naive_segment(p.substr(1), s.substr(1));
}

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t slash = path.find('/', begin);
    out.emplace_back(path.substr(begin, slash - begin));
    if (slash == std::string_view::npos) return out;
    begin = slash + 1;
  }
}

bool naive_segments(const std::vector<std::string>& p, std::size_t i,
                    const std::vector<std::string>& s, std::size_t j) {
  if (i == p.size()) return j == s.size();
  if (p[i] == "**") {
    if (i + 1 == p.size()) return j < s.size();  // trailing: one or more
    for (std::size_t k = j; k <= s.size(); ++k)
      if (naive_segments(p, i + 1, s, k)) return true;
    return false;
  }
  return j < s.size() && naive_segment(p[i], s[j]) && naive_segments(p, i + 1, s, j + 1);
}

bool naive_match(const std::string& pattern, const std::string& path) {
  std::vector<std::string> p = split(pattern);
  if (pattern.find('/') == std::string::npos) p.insert(p.begin(), "**");
  return naive_segments(p, 0, split(path), 0);
}

std::string random_pattern(std::mt19937& rng) {
  static const std::vector<std::string> atoms = {"a", "b", "*", "?", "[ab]", "[b]"};
  std::string pattern;
  const int segments = std::uniform_int_distribution<int>(1, 4)(rng);
  for (int i = 0; i < segments; ++i) {
    if (i) pattern += '/';
    if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) {
      pattern += "**";
      continue;
    }
    const int atoms_in_segment = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int k = 0; k < atoms_in_segment; ++k) {
      std::string atom =
          atoms[std::uniform_int_distribution<std::size_t>(0, atoms.size() - 1)(rng)];
      if (atom == "*" && !pattern.empty() && pattern.back() == '*') atom = "a";
      pattern += atom;
    }
  }
  return pattern;
}

// Every path of 1..3 segments, each a name of 1..2 letters from {a, b}.
std::vector<std::string> all_paths() {
  const std::vector<std::string> names = {"a", "b", "aa", "ab", "ba", "bb"};
  std::vector<std::string> paths = names;
  for (std::size_t depth = 1; depth < 3; ++depth) {
    std::vector<std::string> longer;
    for (const std::string& path : paths)
      if (static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) == depth - 1)
        for (const std::string& name : names) longer.push_back(path + "/" + name);
    paths.insert(paths.end(), longer.begin(), longer.end());
  }
  return paths;
}

}  // namespace

TEST_CASE("glob agrees with a naive matcher on random patterns", "[glob]") {
  std::mt19937 rng(20240611);
  const std::vector<std::string> paths = all_paths();
  for (int round = 0; round < 400; ++round) {
    const std::string pattern = random_pattern(rng);
    const auto compiled = Glob::compile(pattern);
    REQUIRE(compiled.value);
    const Glob& glob = *compiled.value;
    for (const std::string& path : paths) {
      INFO("pattern " << pattern << " path " << path);
      const bool expected = naive_match(pattern, path);
      REQUIRE(glob.matches(path) == expected);
      if (!expected) continue;
      // Every ancestor of a matching path must stay listable.
      for (std::size_t slash = path.find('/'); slash != std::string::npos;
           slash = path.find('/', slash + 1))
        REQUIRE(glob.may_match_below(path.substr(0, slash + 1)));
      REQUIRE(glob.may_match_below(""));
    }
    // matches_all_below never over-claims.
    for (const std::string& dir : {std::string(""), std::string("a/"), std::string("a/b/")}) {
      if (!glob.matches_all_below(dir)) continue;
      for (const std::string& path : paths)
        if (path.starts_with(dir)) {
          INFO("pattern " << pattern << " dir " << dir << " path " << path);
          REQUIRE(glob.matches(path));
        }
    }
  }
}
