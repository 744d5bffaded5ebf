// SPDX-License-Identifier: MIT
#include "daemon/transfer/segment_plan.hpp"

#include <algorithm>
#include <charconv>

namespace pnsync {
namespace {

bool read_number(std::string_view& text, std::int64_t& out) {
  const auto* first = text.data();
  const auto* last = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || ptr == first) return false;
  text.remove_prefix(static_cast<std::size_t>(ptr - first));
  return true;
}

bool expect(std::string_view& text, char c) {
  if (text.empty() || text.front() != c) return false;
  text.remove_prefix(1);
  return true;
}

}  // namespace

SegmentPlan::SegmentPlan(std::int64_t size, std::int64_t on_disk) : size_(size) {
  ranges_.push_back({0, size, std::clamp<std::int64_t>(on_disk, 0, size)});
}

std::optional<SegmentPlan> SegmentPlan::parse(std::string_view text,
                                              std::optional<std::int64_t> size) {
  SegmentPlan plan;
  while (!text.empty()) {
    ByteRange range;
    if (!read_number(text, range.start) || !expect(text, '-') || !read_number(text, range.end) ||
        !expect(text, ':') || !read_number(text, range.next))
      return std::nullopt;
    if (!text.empty() && (!expect(text, ',') || text.empty())) return std::nullopt;
    if (range.start < 0 || range.start >= range.end || range.next < range.start ||
        range.next > range.end)
      return std::nullopt;
    plan.ranges_.push_back(range);
  }
  // The ranges must tile [0, size): sorted by start, each begins where the one before ends.
  std::vector<ByteRange> sorted = plan.ranges_;
  std::sort(sorted.begin(), sorted.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.start < b.start; });
  std::int64_t expected_start = 0;
  for (const ByteRange& range : sorted) {
    if (range.start != expected_start) return std::nullopt;
    expected_start = range.end;
  }
  // Without a size, the tiled extent is the size.
  plan.size_ = size.value_or(expected_start);
  if (sorted.empty() || expected_start != plan.size_) return std::nullopt;
  return plan;
}

std::string SegmentPlan::serialize() const {
  std::string text;
  for (const ByteRange& range : ranges_) {
    if (!text.empty()) text += ',';
    text += std::to_string(range.start) + '-' + std::to_string(range.end) + ':' +
            std::to_string(range.next);
  }
  return text;
}

std::vector<ByteRange>::const_iterator SegmentPlan::widest_to_split(std::int64_t min_left) const {
  const auto widest =
      std::max_element(ranges_.begin(), ranges_.end(),
                       [](const ByteRange& a, const ByteRange& b) { return a.left() < b.left(); });
  if (widest == ranges_.end() || widest->left() < 2 * std::max<std::int64_t>(min_left, 1))
    return ranges_.end();
  return widest;
}

std::int64_t SegmentPlan::split_gives(std::int64_t min_left) const {
  const auto widest = widest_to_split(min_left);
  return widest == ranges_.end() ? 0 : widest->left() - widest->left() / 2;
}

std::optional<std::size_t> SegmentPlan::split(std::int64_t min_left) {
  const auto found = widest_to_split(min_left);
  if (found == ranges_.end()) return std::nullopt;
  ByteRange& widest = ranges_[static_cast<std::size_t>(found - ranges_.cbegin())];
  const std::int64_t middle = widest.next + widest.left() / 2;
  const ByteRange back{middle, widest.end, middle};
  widest.end = middle;
  ranges_.push_back(back);
  return ranges_.size() - 1;
}

std::int64_t SegmentPlan::on_disk() const {
  std::int64_t total = 0;
  for (const ByteRange& range : ranges_) total += range.next - range.start;
  return total;
}

std::int64_t SegmentPlan::contiguous() const {
  // Ranges are few (at most a few dozen): walking them from offset 0 is cheap.
  std::int64_t offset = 0;
  for (bool advanced = true; advanced && offset < size_;) {
    advanced = false;
    for (const ByteRange& range : ranges_) {
      if (range.start != offset) continue;
      offset = range.next;
      advanced = range.done() && range.end > range.start;
      break;
    }
  }
  return offset;
}

bool SegmentPlan::complete() const {
  return std::all_of(ranges_.begin(), ranges_.end(),
                     [](const ByteRange& range) { return range.done(); });
}

}  // namespace pnsync
