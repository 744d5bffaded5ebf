// SPDX-License-Identifier: MIT
#include "ctl/table.hpp"

#include <algorithm>

namespace pnsync::ctl {
namespace {

constexpr std::size_t kGap = 2;

bool continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

std::string pad(const std::string& text, std::size_t width, Table::Align align) {
  const std::size_t shown = display_width(text);
  if (shown >= width) return text;
  const std::string fill(width - shown, ' ');
  return align == Table::Align::Left ? text + fill : fill + text;
}

}  // namespace

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\033') {  // CSI sequence: ESC [ parameters final-byte
      ++i;
      if (i < text.size() && text[i] == '[')
        while (i + 1 < text.size() && !(text[i + 1] >= '@' && text[i + 1] <= '~')) ++i;
      ++i;
      continue;
    }
    if (!continuation_byte(text[i])) ++width;
  }
  return width;
}

std::string elide_middle(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  if (width == 0) return {};
  // Cut on character boundaries; the ellipsis takes one column.
  const std::size_t keep = width - 1;
  const std::size_t head_chars = keep / 2;
  const std::size_t tail_chars = keep - head_chars;
  std::size_t head_end = 0;
  for (std::size_t chars = 0; head_end < text.size(); ++head_end) {
    if (!continuation_byte(text[head_end]) && chars++ == head_chars) break;
  }
  std::size_t tail_begin = text.size();
  for (std::size_t chars = 0; tail_begin > 0 && chars < tail_chars;) {
    --tail_begin;
    if (!continuation_byte(text[tail_begin])) ++chars;
  }
  return std::string(text.substr(0, head_end)) + "…" + std::string(text.substr(tail_begin));
}

void Table::add_row(std::vector<std::string> cells, std::vector<std::string> below) {
  cells.resize(columns_.size());
  rows_.push_back(Row{std::move(cells), std::move(below)});
}

std::string Table::render(std::size_t width, int elastic, std::string_view indent) const {
  const bool headers = std::any_of(columns_.begin(), columns_.end(),
                                   [](const Column& column) { return !column.header.empty(); });
  std::vector<std::size_t> widths(columns_.size(), 0);
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    if (headers) widths[c] = display_width(columns_[c].header);
    for (const Row& row : rows_) widths[c] = std::max(widths[c], display_width(row.cells[c]));
  }
  if (elastic >= 0 && static_cast<std::size_t>(elastic) < widths.size()) {
    std::size_t fixed = indent.size() + kGap * (widths.size() - 1);
    for (std::size_t c = 0; c < widths.size(); ++c)
      if (c != static_cast<std::size_t>(elastic)) fixed += widths[c];
    // Never below 12 columns: an unreadable stump is worse than a wrapped line.
    const std::size_t room = width > fixed + 12 ? width - fixed : 12;
    widths[elastic] = std::min(widths[elastic], room);
  }

  auto line = [&](const std::vector<std::string>& cells) {
    std::string text(indent);
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string cell =
          static_cast<int>(c) == elastic ? elide_middle(cells[c], widths[c]) : cells[c];
      // The last column is not padded: no trailing blanks.
      text += c + 1 == cells.size() && columns_[c].align == Align::Left
                  ? cell
                  : pad(cell, widths[c], columns_[c].align);
      if (c + 1 < cells.size()) text += std::string(kGap, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text + "\n";
  };

  std::string out;
  if (headers) {
    std::vector<std::string> names;
    for (const Column& column : columns_) names.push_back(column.header);
    out += line(names);
  }
  for (const Row& row : rows_) {
    out += line(row.cells);
    for (const std::string& detail : row.below) out += std::string(indent) + detail + "\n";
  }
  return out;
}

}  // namespace pnsync::ctl
