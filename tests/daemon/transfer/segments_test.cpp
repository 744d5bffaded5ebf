// SPDX-License-Identifier: MIT
// Large files fetched as several byte ranges at once (daemon/transfer/transfer_ranges.cpp), end to
// end against the test server: spare slots split the file, each range resumes on its own after a
// stop, a plan whose bytes are gone starts over, a server that ignores Range gets one stream, and
// every file is verified against the manifest.
#include <sqlite3.h>
#include <algorithm>

#include <catch2/catch.hpp>
#include <charconv>
#include <filesystem>
#include <set>
#include <thread>

#include "daemon/disk/local_tree.hpp"
#include "tests/daemon/mirror_fixture.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

namespace fs = std::filesystem;

const std::string kTable = "mimic-cxr-2.0.0-metadata.csv.gz";
constexpr std::int64_t kMiB = 1 << 20;
constexpr std::int64_t kTableSize = 6 * kMiB;

// The fixture's tree plus one 6 MiB table at the root, listed in SHA256SUMS.txt; ranges from
// 1 MiB on, up to 4 per file.
struct LargeFileFixture : MirrorFixture {
  LargeFileFixture() {
    table = random_bytes(kTableSize, 77);
    add_listed_root_file(kTable, table);
    config.transfers = 8;
    config.segments = 4;
    config.segment_size = kMiB;
  }

  // The Range headers sent for the table, as (first, last) byte pairs; "" (no Range) is (0, -1).
  std::vector<std::pair<std::int64_t, std::int64_t>> table_ranges() const {
    std::vector<std::pair<std::int64_t, std::int64_t>> out;
    for (const auto& request : server->requests()) {
      if (request.path != url_path(kTable) || request.method != "GET") continue;
      std::int64_t first = 0;
      std::int64_t last = -1;
      if (!request.range.empty()) {
        const std::string_view text = request.range;  // "bytes=F-L" or "bytes=F-"
        const auto dash = text.find('-');
        std::from_chars(text.data() + 6, text.data() + dash, first);
        if (dash + 1 < text.size()) std::from_chars(text.data() + dash + 1, text.end(), last);
      }
      out.emplace_back(first, last);
    }
    return out;
  }

  fs::path partial_file() const { return MirrorFixture::partial_file(kTable); }

  std::string table;
};

}  // namespace

TEST_CASE("a large file takes the spare slots as byte ranges, and is verified whole",
          "[segments][engine]") {
  LargeFileFixture fixture;
  // Paced at 1 MiB/s a request, so the file is still coming when the engine offers the slots
  // the small files left (once a second).
  fixture.server->set_fault(fixture.url_path(kTable), {.kind = Fault::Kind::Slow, .bytes = kMiB});

  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK_MIRRORED(fixture);
  const auto record = fixture.record(kTable);
  REQUIRE(record);
  CHECK(record->verified_by == store::VerifyKind::Sha256Manifest);
  CHECK(record->segments == std::nullopt);  // the plan goes once the file is verified

  const auto ranges = fixture.table_ranges();
  INFO(ranges.size() << " requests for the table");
  CHECK(ranges.size() >= 2);
  CHECK(ranges.size() <= 8);
  // The manifest lists the table, so its transfer may start before the listing gives its size:
  // then the first request is a plain GET, turned into the first range once the response has
  // told the size. Every later request names its end.
  std::set<std::int64_t> starts;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const auto [first, last] = ranges[i];
    if (i > 0 || last != -1) CHECK(last >= first);
    CHECK(last < kTableSize);
    starts.insert(first);
  }
  CHECK(starts.size() == ranges.size());  // no range asked for twice
  CHECK(starts.contains(0));
  // Nothing fetched twice: the bytes served add up to the files' sizes, plus the listings and
  // what requests cut short (by a split, or turned into ranges) still had on their way: a few of
  // the paced 100 ms steps. Fetching the table twice would be 6 MiB more.
  std::int64_t all_files = 0;
  for (const auto& [path, content] : fixture.files)
    all_files += static_cast<std::int64_t>(content.size());
  CHECK(static_cast<std::int64_t>(fixture.server->body_bytes_sent()) <= all_files + kMiB);
}

TEST_CASE("a file below segment_size whose one stream is slow is split over spare slots",
          "[segments][engine]") {
  // 6 MiB is below segment_size here: only its pace makes it worth ranges. At 256 KiB/s one
  // stream would take 24 s; judged after 0.5 s, what is left would take over 4 s, so it is
  // split into ranges of at least 1 s of that rate, on the slots the small files leave.
  LargeFileFixture fixture;
  fixture.config.segment_size = 64 * kMiB;
  fixture.slow_stream = {.judged_after = std::chrono::milliseconds(500),
                         .left_seconds = 4,
                         .range_seconds = 1,
                         .least_bytes = 256 << 10};
  fixture.server->set_fault(fixture.url_path(kTable),
                            {.kind = Fault::Kind::Slow, .bytes = 256 << 10});
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK_MIRRORED(fixture);
  const auto record = fixture.record(kTable);
  REQUIRE(record);
  CHECK(record->verified_by == store::VerifyKind::Sha256Manifest);
  const auto ranges = fixture.table_ranges();
  INFO(ranges.size() << " requests for the table");
  CHECK(ranges.size() >= 3);  // the stream, its restart as range 0, and at least one more range
  CHECK(ranges.size() <= 5);  // segments: 4, plus the stream turned into range 0
  // Four ranges at 256 KiB/s each: well under the 24 s one stream takes.
  CHECK(took < std::chrono::seconds(16));
}

TEST_CASE("the default slow-stream rule leaves a fast file in one stream", "[segments][engine]") {
  // 6 MiB paced at 1 MiB/s: 6 s in one stream, under a minute, so not split.
  LargeFileFixture fixture;
  fixture.config.segment_size = 64 * kMiB;
  fixture.server->set_fault(fixture.url_path(kTable), {.kind = Fault::Kind::Slow, .bytes = kMiB});
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK_MIRRORED(fixture);
  CHECK(fixture.table_ranges().size() == 1);
}

TEST_CASE("each range resumes where its recorded bytes end", "[segments][engine]") {
  LargeFileFixture fixture;
  fixture.config.max_attempts = 1;
  // A first pass that cannot fetch the table leaves its row in the store.
  fixture.server->set_fault(fixture.url_path(kTable), {.kind = Fault::Kind::Status, .status = 500});
  REQUIRE(fixture.run() == ExitCode::FilesFailed);
  const auto record = fixture.record(kTable);
  REQUIRE(record);

  // As a stopped ranged download leaves it: [0, 1 MiB) and [3 MiB, 3.5 MiB) on disk, a hole
  // between, the plan recorded.
  std::string partial(static_cast<std::size_t>(3 * kMiB + kMiB / 2), '\0');
  partial.replace(0, kMiB, fixture.table.substr(0, kMiB));
  partial.replace(3 * kMiB, kMiB / 2, fixture.table.substr(3 * kMiB, kMiB / 2));
  {
    store::Store store(fixture.config.state_dir / "state.db");
    store.save_segments(record->id, kMiB + kMiB / 2, "0-3145728:1048576,3145728-6291456:3670016");
    store.requeue(record->id);
  }
  const fs::path part = fixture.partial_file();
  // Resumes from the stopped download above and checks that no byte already on disk was asked
  // for again; returns the ranges asked for.
  const auto resume_asking_only_for_gaps = [&] {
    write_file(part, partial);
    fixture.server->clear_faults();
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
    auto ranges = fixture.table_ranges();
    REQUIRE(!ranges.empty());
    for (const auto& [first, last] : ranges) {
      INFO("bytes=" << first << "-" << last);
      const bool in_first_gap = first >= kMiB && last < 3 * kMiB;
      const bool in_second_gap = first >= 3 * kMiB + kMiB / 2 && last < kTableSize;
      CHECK((in_first_gap || in_second_gap));
    }
    return ranges;
  };

  SECTION("only the missing bytes are asked for") {
    const auto ranges = resume_asking_only_for_gaps();
    const auto asked = [&ranges](std::int64_t first, std::int64_t last) {
      return std::find(ranges.begin(), ranges.end(), std::pair{first, last}) != ranges.end();
    };
    CHECK(asked(kMiB, 3 * kMiB - 1));
    CHECK(asked(3 * kMiB + kMiB / 2, kTableSize - 1));
    const std::int64_t missing = kTableSize - kMiB - kMiB / 2;
    // A write the server was still completing when the pass ended may settle a moment later.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (static_cast<std::int64_t>(fixture.server->body_bytes_sent()) < missing &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(static_cast<std::int64_t>(fixture.server->body_bytes_sent()) >= missing);
    CHECK(static_cast<std::int64_t>(fixture.server->body_bytes_sent()) <= missing + kMiB / 2);
    CHECK(fixture.record(kTable)->verified_by == store::VerifyKind::Sha256Manifest);
  }
  SECTION("a file whose size only a response told resumes its ranges too") {
    // The manifest lists the table and no listing has given its size: the store has none.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((fixture.config.state_dir / "state.db").c_str(), &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "UPDATE file SET size = NULL WHERE path = 'mimic-cxr-2.0.0-metadata.csv.gz'",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    // The crawl of the first pass is recent: this pass lists nothing, so the size stays unknown.
    resume_asking_only_for_gaps();
  }
  SECTION("a plan whose bytes are gone starts the file over") {
    fs::remove(part);
    fixture.server->clear_faults();
    fixture.server->clear_requests();
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
    const auto ranges = fixture.table_ranges();
    CHECK(std::any_of(ranges.begin(), ranges.end(),
                      [](const auto& range) { return range.first == 0; }));
  }
  SECTION("wrong bytes on disk are caught by the hash and fetched again") {
    std::string damaged = partial;
    damaged[100] = static_cast<char>(~damaged[100]);
    write_file(part, damaged);
    fixture.server->clear_faults();
    fixture.config.max_attempts = 3;
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
  }
  SECTION("a server that ignores Range gets the file in one stream") {
    write_file(part, partial);
    // The range from 1 MiB is answered with the whole file: of no use to it. The next attempt
    // keeps the gap-free prefix and asks for the rest in one stream, which the server answers
    // with the whole file again; that is taken from byte 0.
    fixture.server->set_fault(fixture.url_path(kTable), {.kind = Fault::Kind::IgnoreRange});
    fixture.server->clear_requests();
    fixture.config.max_attempts = 3;
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
    CHECK(fixture.record(kTable)->verified_by == store::VerifyKind::Sha256Manifest);
    const auto ranges = fixture.table_ranges();
    REQUIRE(ranges.size() == 2);
    CHECK(ranges[0] == std::pair<std::int64_t, std::int64_t>{kMiB, 3 * kMiB - 1});
    CHECK(ranges[1] == std::pair<std::int64_t, std::int64_t>{kMiB, -1});  // one stream
  }
}

TEST_CASE("segments: 1 fetches a large file in one stream", "[segments][engine]") {
  LargeFileFixture fixture;
  fixture.config.segments = 1;
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK_MIRRORED(fixture);
  const auto ranges = fixture.table_ranges();
  REQUIRE(ranges.size() == 1);
  CHECK(ranges.front() == std::pair<std::int64_t, std::int64_t>{0, -1});
}
