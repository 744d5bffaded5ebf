// SPDX-License-Identifier: MIT
// The byte ranges of one large file fetched as several ranges at once, and how far each got.
//
// A plan starts as one range covering the file. When a transfer slot is spare, the range with
// the most bytes left is split in two at the middle of what it still lacks: the old range keeps
// the front (its request in flight stops at the new end) and the new one, fetched by the spare
// slot, takes the back. So the ranges always tile [0, size) without overlap, and a plan written to
// the store and read back after a crash resumes each range where its bytes on disk end.
//
// Pure bookkeeping: no I/O, no network (tests/daemon/transfer/segment_plan_test.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync {

struct ByteRange {
  std::int64_t start = 0;  // first byte
  std::int64_t end = 0;    // one past the last byte
  std::int64_t next = 0;   // first byte not yet on disk: start <= next <= end

  std::int64_t left() const { return end - next; }
  bool done() const { return next == end; }
  bool operator==(const ByteRange&) const = default;
};

// A server that limits each connection makes a file below segment_size take minutes on one:
// 30 MB at physionet.org's slower 100 KB/s is five. A single stream is judged on its own rate once
// it has run for `judged_after`, and split (on spare slots, like a large file) when what is left
// would take over `left_seconds`, into ranges of at least `range_seconds` of that rate and
// `least_bytes`: a split costs one request per tens of seconds of transfer at most.
struct SlowStreamSplit {
  std::chrono::milliseconds judged_after{3000};
  double left_seconds = 60;
  double range_seconds = 15;
  std::int64_t least_bytes = std::int64_t{1} << 20;
};

class SegmentPlan {
public:
  // One range over the whole file, of which the first `on_disk` bytes are already written.
  SegmentPlan(std::int64_t size, std::int64_t on_disk);

  // Reads what serialize() wrote. nullopt when the text does not describe ranges that tile
  // [0, size) in order (a different size upstream, or a damaged row): the caller starts over.
  // Without `size` (a file only a response told the size of; the store keeps none) the ranges
  // must tile [0, their furthest end), which becomes the size.
  static std::optional<SegmentPlan> parse(std::string_view text,
                                          std::optional<std::int64_t> size = std::nullopt);
  // "start-end:next,..." in file order.
  std::string serialize() const;

  // Splits the range with the most bytes left when it lacks at least 2 × `min_left`, and returns
  // the index of the new back half (which has nothing on disk yet). Indexes of existing ranges
  // stay valid: the new range is appended, not inserted.
  std::optional<std::size_t> split(std::int64_t min_left);
  // The bytes the back half of split(min_left) would get; 0 when it would not split.
  std::int64_t split_gives(std::int64_t min_left) const;

  std::int64_t size() const { return size_; }
  const std::vector<ByteRange>& ranges() const { return ranges_; }
  ByteRange& range(std::size_t index) { return ranges_.at(index); }
  const ByteRange& range(std::size_t index) const { return ranges_.at(index); }

  // Bytes on disk in all ranges.
  std::int64_t on_disk() const;
  // Bytes from 0 on with no gap: the part that can be hashed in order.
  std::int64_t contiguous() const;
  bool complete() const;

private:
  SegmentPlan() = default;
  // The range split(min_left) would cut, or ranges_.end().
  std::vector<ByteRange>::const_iterator widest_to_split(std::int64_t min_left) const;
  std::int64_t size_ = 0;
  std::vector<ByteRange> ranges_;  // in the order they were made; they tile [0, size)
};

}  // namespace pnsync
