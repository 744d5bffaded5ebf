// SPDX-License-Identifier: MIT
// A pattern is compiled into segments; a path is matched segment by segment with a small NFA
// whose states ("the first i pattern segments are matched") fit in one 64-bit word, so "**" never
// backtracks exponentially and a match allocates nothing. Within a segment, the classic
// one-star-backtrack loop (linear in practice, O(name x tokens) at worst) does the work.
#include "config/glob.hpp"

#include <algorithm>
#include <optional>

namespace pnsync::config {

namespace {

using detail::quote;
using Result = detail::Parsed<Glob>;

constexpr std::size_t kMaxPatternBytes = 4096;
constexpr std::size_t kMaxSegments = 63;

// One UTF-8 character at `i`: its code point and length. A byte that does not start a valid
// sequence decodes as itself with length 1, so matching never stalls on bad input (paths from
// the server are checked to be UTF-8 elsewhere; patterns are checked by valid_utf8 below).
std::pair<char32_t, std::size_t> decode(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1};
  std::size_t length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {b0, 1};
  }
  if (i + length > s.size()) return {b0, 1};
  for (std::size_t k = 1; k < length; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return {b0, 1};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {b0, 1};
  return {cp, length};
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto [cp, length] = decode(s, i);
    if (length == 1 && cp >= 0x80) return false;
    i += length;
  }
  return true;
}

std::size_t char_length(std::string_view s, std::size_t i) {
  return decode(s, i).second;
}

// Calls f(segment) for each '/'-separated segment; false (and stops) on an empty segment.
template <class F>
bool for_each_segment(std::string_view path, F&& f) {
  for (;;) {
    const std::size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (segment.empty()) return false;
    if (!f(segment)) return true;
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

bool Glob::CharClass::contains(char32_t c) const {
  const bool in = std::any_of(ranges.begin(), ranges.end(),
                              [c](const auto& r) { return c >= r.first && c <= r.second; });
  return in != negated;
}

detail::Parsed<Glob::Segment> Glob::compile_segment(std::string_view text,
                                                    std::vector<CharClass>& classes) {
  using SegmentResult = detail::Parsed<Segment>;
  Segment segment;
  if (text == "**") {
    segment.double_star = true;
    return {segment, {}};
  }
  if (text == "*") {
    segment.any_name = true;
    return {segment, {}};
  }
  if (text == "." || text == "..")
    return SegmentResult::fail("a " + quote(text) +
                               " segment never matches: mirrored paths have none");
  if (text.find("**") != std::string_view::npos)
    return SegmentResult::fail(
        R"("**" must be a whole path segment ("a/**/b"); within a name use "*")");

  const auto push_char = [&](std::size_t at) {
    const std::size_t length = char_length(text, at);
    for (std::size_t k = 0; k < length; ++k)
      segment.tokens.push_back({TokenKind::Byte, text[at + k], 0});
    return length;
  };
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '*') {
      segment.tokens.push_back({TokenKind::Star, 0, 0});
      ++i;
    } else if (c == '?') {
      segment.tokens.push_back({TokenKind::AnyChar, 0, 0});
      ++i;
    } else if (c == '\\') {
      if (i + 1 == text.size())
        return SegmentResult::fail("ends a segment with an unfinished escape '\\'");
      i += 1 + push_char(i + 1);
    } else if (c != '[') {
      i += push_char(i);
    } else {
      // A bracket expression: [!...] / [^...] negate, ']' first is literal, a-b is a range.
      CharClass klass;
      std::size_t j = i + 1;
      if (j < text.size() && (text[j] == '!' || text[j] == '^')) {
        klass.negated = true;
        ++j;
      }
      bool closed = false;
      bool first = true;
      while (j < text.size()) {
        if (text[j] == ']' && !first) {
          closed = true;
          ++j;
          break;
        }
        first = false;
        if (text[j] == '[' && j + 1 < text.size() && text[j + 1] == ':')
          return SegmentResult::fail(
              "character class names such as [:digit:] are not supported; write [0-9]");
        // One character of the class, escaped or not.
        const auto read_char = [&](std::size_t& at) -> std::optional<char32_t> {
          if (text[at] == '\\') {
            if (++at == text.size()) return std::nullopt;
          }
          const auto [cp, length] = decode(text, at);
          at += length;
          return cp;
        };
        const std::optional<char32_t> low = read_char(j);
        if (!low) break;
        if (j + 1 < text.size() && text[j] == '-' && text[j + 1] != ']') {
          ++j;
          const std::optional<char32_t> high = read_char(j);
          if (!high) break;
          if (*high < *low)
            return SegmentResult::fail("the range in " + quote(text) +
                                       " is reversed (write [a-z], not [z-a])");
          klass.ranges.emplace_back(*low, *high);
        } else {
          klass.ranges.emplace_back(*low, *low);
        }
      }
      if (!closed)
        return SegmentResult::fail("unclosed '[' in " + quote(text) +
                                   R"( (write "\[" for a literal '['))");
      segment.tokens.push_back({TokenKind::Class, 0, static_cast<std::uint32_t>(classes.size())});
      classes.push_back(std::move(klass));
      i = j;
    }
  }
  // "a\*b" style segments and plain names compare as strings.
  segment.literal = std::all_of(segment.tokens.begin(), segment.tokens.end(),
                                [](const Token& t) { return t.kind == TokenKind::Byte; });
  if (segment.literal) {
    for (const Token& t : segment.tokens) segment.text.push_back(t.byte);
    segment.tokens.clear();
  }
  return {segment, {}};
}

detail::Parsed<Glob> Glob::compile(std::string_view pattern) {
  const auto fail = [&](const std::string& why) {
    return Result::fail("invalid pattern " + quote(pattern) + ": " + why);
  };
  if (pattern.empty()) return Result::fail("a pattern must not be empty");
  if (pattern.size() > kMaxPatternBytes)
    return fail("longer than " + std::to_string(kMaxPatternBytes) + " bytes");
  if (std::any_of(pattern.begin(), pattern.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    return fail("contains a control character");
  if (!valid_utf8(pattern)) return fail("is not valid UTF-8");

  std::string_view body = pattern;
  const bool rooted = body.front() == '/';
  if (rooted) body.remove_prefix(1);
  if (body.empty()) return fail("names no file (write \"/**\" for everything)");
  if (body.back() == '/')
    return fail("ends with '/'; patterns name files, so write " + quote(std::string(body) + "**") +
                " for everything below a directory");

  Glob glob;
  glob.pattern_ = std::string(pattern);
  // No '/' (other than a leading one): the name at any depth, as gitignore and rsync do.
  if (!rooted && body.find('/') == std::string_view::npos) {
    Segment any_depth;
    any_depth.double_star = true;
    glob.segments_.push_back(std::move(any_depth));
  }
  std::string why;
  const bool well_formed = for_each_segment(body, [&](std::string_view text) {
    detail::Parsed<Segment> segment = compile_segment(text, glob.classes_);
    if (!segment.value) {
      why = segment.error;
      return false;
    }
    // "a/**/**/b" is "a/**/b".
    if (segment.value->double_star && !glob.segments_.empty() && glob.segments_.back().double_star)
      return true;
    glob.segments_.push_back(std::move(*segment.value));
    return true;
  });
  if (!well_formed) return fail("has an empty path segment (\"//\")");
  if (!why.empty()) return fail(why);
  // A trailing "**" means "everything inside", at least one more segment: "a/**" is "a/**/*".
  if (glob.segments_.back().double_star) {
    Segment any_name;
    any_name.any_name = true;
    glob.segments_.push_back(std::move(any_name));
  }
  if (glob.segments_.size() > kMaxSegments)
    return fail("has more than " + std::to_string(kMaxSegments) + " segments");
  return {std::move(glob), {}};
}

bool Glob::segment_matches(const Segment& segment, std::string_view name) const {
  if (segment.any_name) return true;
  if (segment.literal) return name == segment.text;
  const std::vector<Token>& tokens = segment.tokens;
  std::size_t t = 0;
  std::size_t n = 0;
  std::size_t star = std::string_view::npos;  // the token after the last '*' seen
  std::size_t star_n = 0;                     // where that '*' stopped consuming
  while (n < name.size()) {
    if (t < tokens.size()) {
      const Token& token = tokens[t];
      if (token.kind == TokenKind::Star) {
        star = ++t;
        star_n = n;
        continue;
      }
      if (token.kind == TokenKind::Byte && name[n] == token.byte) {
        ++t, ++n;
        continue;
      }
      if (token.kind == TokenKind::AnyChar) {
        ++t, n += char_length(name, n);
        continue;
      }
      if (token.kind == TokenKind::Class) {
        const auto [cp, length] = decode(name, n);
        if (classes_[token.klass].contains(cp)) {
          ++t, n += length;
          continue;
        }
      }
    }
    // Mismatch: let the last '*' swallow one more character and retry from there.
    if (star == std::string_view::npos) return false;
    t = star;
    star_n += char_length(name, star_n);
    n = star_n;
  }
  while (t < tokens.size() && tokens[t].kind == TokenKind::Star) ++t;
  return t == tokens.size();
}

Glob::States Glob::closure(States states) const {
  // "**" may match no segment at all: whoever reaches it also reaches the segment after it.
  for (std::size_t i = 0; i < segments_.size(); ++i)
    if ((states >> i & 1) && segments_[i].double_star) states |= States{1} << (i + 1);
  return states;
}

Glob::States Glob::step(States states, std::string_view name) const {
  States next = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (!(states >> i & 1)) continue;
    if (segments_[i].double_star)
      next |= States{1} << i;  // "**" swallows this segment too
    else if (segment_matches(segments_[i], name))
      next |= States{1} << (i + 1);
  }
  return closure(next);
}

bool Glob::matches(std::string_view path) const {
  States states = start();
  const bool well_formed = for_each_segment(path, [&](std::string_view name) {
    states = step(states, name);
    return states != 0;
  });
  return well_formed && (states >> segments_.size() & 1);
}

Glob::States Glob::walk_dir(std::string_view dir) const {
  if (!dir.empty() && dir.back() == '/') dir.remove_suffix(1);
  States states = start();
  if (dir.empty()) return states;
  const bool well_formed = for_each_segment(dir, [&](std::string_view name) {
    states = step(states, name);
    return states != 0;
  });
  return well_formed ? states : 0;
}

bool Glob::may_match_below(std::string_view dir) const {
  // A state short of the end still needs at least one more segment, and the last segment is
  // never "**", so such a state is reached by some path below `dir` (and only by those).
  const States unfinished = (States{1} << segments_.size()) - 1;
  return (walk_dir(dir) & unfinished) != 0;
}

bool Glob::matches_all_below(std::string_view dir) const {
  // After `dir`, the rest of the pattern must be "**/*" (one or more segments of any name).
  const std::size_t n = segments_.size();
  if (n < 2 || !segments_[n - 1].any_name || !segments_[n - 2].double_star) return false;
  return (walk_dir(dir) >> (n - 2) & 1) != 0;
}

}  // namespace pnsync::config
