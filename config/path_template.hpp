// SPDX-License-Identifier: MIT
// The `select.path` template: turns one row of a table into the relative path of a file.
//   "files/p{subject_id:0:2}/p{subject_id}/s{study_id}/{dicom_id}.dcm"
//   {column}              the row's value in that column
//   {column:start:length} `length` bytes of it from byte `start` (0-based): {subject_id:0:2}
//   {column:start}        the rest of it from byte `start`
//   {{ and }}             a literal brace
// Parsed once when the config is loaded (so a typo is reported with its line); the column names
// are checked against the table's header when the table is read.
#pragma once

#include "config/values.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync::config {

class PathTemplate {
public:
  struct Field {
    std::string column;
    std::size_t start = 0;
    std::optional<std::size_t> length;  // none: to the end of the value
    std::string text;                   // as written, "{subject_id:0:2}", for messages
  };

  // Refuses unbalanced braces, an empty column name, offsets that are not plain decimals, a
  // template without any {column}, and one whose fixed parts could never make a relative file
  // path (a leading or trailing '/', "//", "." or ".." segments, control characters).
  static detail::Parsed<PathTemplate> parse(std::string_view text);

  // values[i] is the row's value for fields()[i]. Fails when a value is empty or too short for
  // its substring; the reason names the field and quotes the value. The result is not checked
  // any further: a value may still contain '/' or "..", so the caller checks the path it gets.
  detail::Parsed<std::string> render(std::span<const std::string_view> values) const;

  const std::vector<Field>& fields() const { return fields_; }
  const std::string& text() const { return text_; }

private:
  struct Part {
    std::string literal;               // used when `field` is empty
    std::optional<std::size_t> field;  // index into fields_
  };
  std::string text_;
  std::vector<Part> parts_;
  std::vector<Field> fields_;
};

}  // namespace pnsync::config
