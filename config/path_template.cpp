// SPDX-License-Identifier: MIT
#include "config/path_template.hpp"

#include <algorithm>
#include <charconv>

namespace pnsync::config {

namespace {

using detail::quote;
using Result = detail::Parsed<PathTemplate>;

constexpr std::size_t kMaxOffset = 4096;  // no path segment is longer than 255 bytes anyway

std::optional<std::size_t> parse_offset(std::string_view text) {
  if (text.empty() || text.size() > 4 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  std::size_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value > kMaxOffset) return std::nullopt;
  return value;
}

// "{column}", "{column:start}" or "{column:start:length}" without the braces.
detail::Parsed<PathTemplate::Field> parse_field(std::string_view inner) {
  using FieldResult = detail::Parsed<PathTemplate::Field>;
  PathTemplate::Field field;
  field.text = "{" + std::string(inner) + "}";
  const std::size_t colon = inner.find(':');
  field.column = std::string(inner.substr(0, colon));
  if (field.column.empty()) return FieldResult::fail(quote(field.text) + " names no column");
  if (colon == std::string_view::npos) return {field, {}};
  std::string_view rest = inner.substr(colon + 1);
  const std::size_t second = rest.find(':');
  const auto start = parse_offset(rest.substr(0, second));
  const auto bad_offset = [&] {
    return FieldResult::fail(quote(field.text) +
                             ": write {column:start:length} with decimal byte offsets up to " +
                             std::to_string(kMaxOffset) + ", e.g. {subject_id:0:2}");
  };
  if (!start) return bad_offset();
  field.start = *start;
  if (second != std::string_view::npos) {
    const auto length = parse_offset(rest.substr(second + 1));
    if (!length || *length == 0) return bad_offset();
    field.length = *length;
  }
  return {field, {}};
}

// The fixed parts must allow a relative file path: checked on a sample rendering in which each
// field stands for a plain name ("x").
std::optional<std::string> shape_problem(std::string_view sample) {
  if (sample.front() == '/') return "must be a relative path (no leading '/')";
  if (sample.back() == '/') return "must name a file, not end with '/'";
  std::size_t begin = 0;
  for (;;) {
    const std::size_t slash = sample.find('/', begin);
    const std::string_view segment = sample.substr(begin, slash - begin);
    if (segment.empty()) return "must not contain an empty segment (\"//\")";
    if (segment == "." || segment == "..") return R"(must not contain "." or ".." segments)";
    if (slash == std::string_view::npos) return std::nullopt;
    begin = slash + 1;
  }
}

}  // namespace

detail::Parsed<PathTemplate> PathTemplate::parse(std::string_view text) {
  const auto fail = [&](const std::string& why) {
    return Result::fail("template " + quote(text) + ": " + why);
  };
  if (text.empty()) return Result::fail("must not be empty");
  if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    return fail("contains a control character");
  PathTemplate result;
  result.text_ = std::string(text);
  std::string literal;
  const auto flush = [&] {
    if (!literal.empty()) result.parts_.push_back({std::move(literal), std::nullopt});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      literal.push_back(c);  // "{{" or "}}"
      ++i;
    } else if (c == '}') {
      return fail("unmatched '}' (write \"}}\" for a literal brace)");
    } else if (c == '{') {
      const std::size_t close = text.find_first_of("{}", i + 1);
      if (close == std::string_view::npos || text[close] != '}')
        return fail("unclosed '{' (write \"{{\" for a literal brace)");
      auto field = parse_field(text.substr(i + 1, close - i - 1));
      if (!field.value) return fail(field.error);
      flush();
      result.parts_.push_back({{}, result.fields_.size()});
      result.fields_.push_back(std::move(*field.value));
      i = close;
    } else {
      literal.push_back(c);
    }
  }
  flush();
  if (result.fields_.empty())
    return fail("names no column, so every row would give the same path; use {column}");
  std::string sample;
  for (const Part& part : result.parts_) sample += part.field ? "x" : part.literal;
  if (auto problem = shape_problem(sample)) return fail(*problem);
  return {std::move(result), {}};
}

detail::Parsed<std::string> PathTemplate::render(std::span<const std::string_view> values) const {
  using StringResult = detail::Parsed<std::string>;
  std::string out;
  for (const Part& part : parts_) {
    if (!part.field) {
      out += part.literal;
      continue;
    }
    const Field& field = fields_[*part.field];
    const std::string_view value = values[*part.field];
    if (value.empty()) return StringResult::fail(field.column + " is empty");
    const std::size_t end = field.length ? field.start + *field.length : value.size();
    if (field.start >= value.size() || end > value.size())
      return StringResult::fail(field.column + " " + quote(value) + " is too short for " +
                                field.text);
    out += value.substr(field.start, end - field.start);
  }
  return {std::move(out), {}};
}

}  // namespace pnsync::config
