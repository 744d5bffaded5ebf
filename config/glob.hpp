// SPDX-License-Identifier: MIT
// Glob patterns over relative '/'-separated paths, as in `include:` and `exclude:`. Compiled once,
// matched many times (every listed file of a 377,000-file mirror), with no regex and no
// allocation per match.
//
// The syntax is gitignore's, minus negation:
//   *        any run of characters within one path segment (possibly none)
//   ?        exactly one character (one UTF-8 code point), never '/'
//   [abc]    one of the characters; [a-z] a range (code points), [!a] or [^a] negated; ']' first
//            in the class is literal ("[]a]"), '-' first or last is literal
//   **       a whole segment only: zero or more segments. "**/x" is x at any depth, "a/**/b"
//            matches a/b and a/x/y/b, and a trailing "a/**" matches everything *inside* a (one
//            or more segments), not a file named a. "**" inside a segment ("a**b") is refused
//   \c       the character c itself ("\[", "\*")
// A pattern without a '/' ("*.csv.gz", "LICENSE.txt") matches the file name at any depth, as in
// gitignore and rsync: it is the same as "**/*.csv.gz". A pattern with a '/' is anchored at the
// version root; a leading '/' only anchors ("/*.csv.gz" is the top-level tables alone).
// Matching is byte-exact on UTF-8 (case-sensitive, no Unicode normalisation); '.' is not
// special, so '*' also matches names that start with a dot.
//
// Refused, with a reason: an empty pattern, a trailing '/' (patterns name files: write "a/**"),
// empty segments ("a//b"), "." or ".." segments (no mirrored path has them), an unclosed '[',
// a reversed range ("[z-a]"), "[:alpha:]"-style names, a dangling '\', control characters,
// invalid UTF-8, more than 4096 bytes or 63 segments.
#pragma once

#include "config/values.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pnsync::config {

class Glob {
public:
  // The compiled pattern, or a reason phrased to follow "KEY: " in a ConfigError.
  static detail::Parsed<Glob> compile(std::string_view pattern);

  // True when `path` ("files/p10/p10000032/s50414267.txt") matches. A path with empty segments
  // (leading, trailing or doubled '/') never matches.
  bool matches(std::string_view path) const;

  // True when some path strictly below directory `dir` ("files/p10/" or "files/p10"; "" is the
  // version root) could match: false lets a crawl skip listing `dir`. Exact for the pattern
  // (each non-"**" segment matches at least one name), so "files/p10/**" answers true for
  // "files/" and "files/p10/" and false for "files/p11/".
  bool may_match_below(std::string_view dir) const;

  // True when every path strictly below `dir` matches ("files/p11/**" for "files/p11/", "**",
  // "*"): an exclude that answers true lets a crawl skip `dir`. May answer false for exotic
  // patterns that do cover everything; never true when some path below does not match.
  bool matches_all_below(std::string_view dir) const;

  const std::string& pattern() const { return pattern_; }

private:
  enum class TokenKind : std::uint8_t { Byte, AnyChar, Star, Class };
  struct Token {
    TokenKind kind = TokenKind::Byte;
    char byte = 0;            // Byte
    std::uint32_t klass = 0;  // Class: index into classes_
  };
  struct CharClass {
    bool negated = false;
    std::vector<std::pair<char32_t, char32_t>> ranges;  // inclusive
    bool contains(char32_t c) const;
  };
  struct Segment {
    bool double_star = false;  // "**": zero or more segments
    bool any_name = false;     // "*": exactly one segment, any name
    bool literal = false;      // no wildcard: compare `text`
    std::string text;          // the literal name (unescaped) when `literal`
    std::vector<Token> tokens;
  };
  using States = std::uint64_t;  // bit i: "segments_[0, i) matched so far"

  static detail::Parsed<Segment> compile_segment(std::string_view text,
                                                 std::vector<CharClass>& classes);
  bool segment_matches(const Segment& segment, std::string_view name) const;
  States closure(States states) const;
  States start() const { return closure(1); }
  States step(States states, std::string_view name) const;
  // The states after walking `dir`'s segments from the start; 0 when `dir` is malformed.
  States walk_dir(std::string_view dir) const;

  std::string pattern_;
  std::vector<Segment> segments_;  // at most 63, so that States has a bit for "all matched"
  std::vector<CharClass> classes_;
};

}  // namespace pnsync::config
