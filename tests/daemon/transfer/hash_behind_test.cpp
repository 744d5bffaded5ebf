// SPDX-License-Identifier: MIT
// A large file fetched in one stream is hashed behind its writing (Transfer::kHashBehindFrom):
// the hash worker reads back what is on disk, including the bytes a resumed download already
// had, and the file is verified only once the hash has caught up with the body.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "daemon/disk/local_tree.hpp"
#include "daemon/transfer/transfer.hpp"
#include "tests/daemon/mirror_fixture.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

namespace fs = std::filesystem;

const std::string kTable = "mimic-cxr-2.0.0-metadata.csv.gz";
constexpr std::int64_t kMiB = 1 << 20;
// Well past the point where hashing moves to the worker, and more than one read-back step.
constexpr std::int64_t kTableSize = Transfer::kHashBehindFrom + Transfer::kHashStep + 3 * kMiB + 5;

// The fixture's tree plus one large table at the root, listed in SHA256SUMS.txt, fetched in one
// stream (segments: 1).
struct StreamedLargeFile : MirrorFixture {
  StreamedLargeFile() {
    table = random_bytes(kTableSize, 91);
    add_listed_root_file(kTable, table);
    config.segments = 1;
  }

  fs::path partial_file() const { return MirrorFixture::partial_file(kTable); }

  std::vector<std::string> table_ranges() const {
    std::vector<std::string> out;
    for (const auto& request : server->requests())
      if (request.path == url_path(kTable) && request.method == "GET") out.push_back(request.range);
    return out;
  }

  std::string table;
};

// Leaves the first `bytes` bytes of the table in its partial file, as a download cut off there
// does, and returns how many.
std::int64_t cut_off_first_pass(StreamedLargeFile& fixture, std::int64_t bytes) {
  fixture.config.max_attempts = 1;
  fixture.server->set_fault(fixture.url_path(kTable),
                            {.kind = Fault::Kind::Truncate, .bytes = bytes});
  REQUIRE(fixture.run() == ExitCode::FilesFailed);
  fixture.server->set_fault(fixture.url_path(kTable), {});
  const auto had = static_cast<std::int64_t>(fs::file_size(fixture.partial_file()));
  REQUIRE(had == bytes);
  return had;
}

}  // namespace

TEST_CASE(
    "a large file fetched in one stream is hashed behind its writing and verified against "
    "the manifest",
    "[hash][engine]") {
  StreamedLargeFile fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK_MIRRORED(fixture);
  const auto record = fixture.record(kTable);
  REQUIRE(record);
  CHECK(record->verified_by == store::VerifyKind::Sha256Manifest);
  CHECK(fixture.table_ranges() == std::vector<std::string>{""});  // one stream, one request
}

TEST_CASE("a resumed large stream hashes the bytes it already had from disk", "[hash][engine]") {
  StreamedLargeFile fixture;
  const std::int64_t had = cut_off_first_pass(fixture, Transfer::kHashBehindFrom + 2 * kMiB);
  const std::size_t first_pass_requests = fixture.table_ranges().size();
  const std::string resume = "bytes=" + std::to_string(had) + "-";

  SECTION("intact: the rest is fetched and the whole file verifies") {
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
    const auto ranges = fixture.table_ranges();
    REQUIRE(ranges.size() == first_pass_requests + 1);
    CHECK(ranges.back() == resume);
  }
  SECTION(
      "damaged on disk meanwhile: the hash read back catches it and the file is fetched again") {
    {
      std::fstream part(fixture.partial_file(), std::ios::in | std::ios::out | std::ios::binary);
      part.seekp(3 * kMiB);
      part.put(static_cast<char>(fixture.table[3 * kMiB] ^ 0x5a));
    }
    fixture.config.max_attempts = 2;
    REQUIRE(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
    const auto ranges = fixture.table_ranges();
    REQUIRE(ranges.size() == first_pass_requests + 2);
    CHECK(ranges[first_pass_requests] == resume);
    CHECK(ranges.back().empty());  // from scratch after the mismatch
  }
}
