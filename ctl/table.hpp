// SPDX-License-Identifier: MIT
// Aligned text columns for terminal output. Widths count what a terminal shows: UTF-8 characters
// (so "≥" and bar blocks count once) and no ANSI colour sequences.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync::ctl {

std::size_t display_width(std::string_view text);
// "files/p10/…/a.dcm": keeps both ends, which tell paths apart better than either end alone.
std::string elide_middle(std::string_view text, std::size_t width);

class Table {
public:
  enum class Align { Left, Right };
  struct Column {
    std::string header;  // empty: no header line is printed for the table
    Align align = Align::Left;
  };

  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
  // Lines printed right after the row, outside the columns (details of that row).
  void add_row(std::vector<std::string> cells, std::vector<std::string> below = {});
  // `elastic`: the column cut (elide_middle) so rows fit `width`, or -1 for none.
  std::string render(std::size_t width, int elastic = -1, std::string_view indent = "") const;

private:
  struct Row {
    std::vector<std::string> cells;
    std::vector<std::string> below;
  };
  std::vector<Column> columns_;
  std::vector<Row> rows_;
};

}  // namespace pnsync::ctl
