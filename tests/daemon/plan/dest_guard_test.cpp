// SPDX-License-Identifier: MIT
// A destination that vanished (a network mount that did not come up) stops the mirror instead of
// being filled again from scratch; a user's deletions still come back.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "daemon/plan/dest_guard.hpp"
#include "tests/daemon/mirror_fixture.hpp"

using namespace pnsync;
using namespace pnsync::test;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::size_t verified_files(const MirrorFixture& fixture) {
  std::size_t verified = 0;
  for (const auto& [path, content] : fixture.files)
    if (auto record = fixture.record(path); record && record->state == store::FileState::Verified)
      ++verified;
  return verified;
}

}  // namespace

TEST_CASE("a dest that no longer exists stops the mirror: nothing created, fetched or forgotten",
          "[mirror][dest]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  const std::size_t verified = verified_files(fixture);
  REQUIRE(verified == fixture.files.size());

  fs::remove_all(fixture.dest);
  fixture.server->clear_requests();
  CHECK(fixture.run() == ExitCode::LocalStorage);
  INFO(fixture.summary);
  CHECK(contains(fixture.summary, fixture.dest.string() + " does not exist"));
  CHECK(contains(fixture.summary, "not mounted?"));
  CHECK(contains(fixture.summary, "pnsyncctl refetch mimic-cxr/2.0.0"));
  CHECK_FALSE(fs::exists(fixture.dest));
  CHECK(fixture.server->requests().empty());
  CHECK(verified_files(fixture) == verified);
}

TEST_CASE("an empty dest (a mount point whose file system did not mount) stops the mirror",
          "[mirror][dest]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  const std::size_t verified = verified_files(fixture);

  fs::remove_all(fixture.dest);
  fs::create_directory(fixture.dest);
  fixture.server->clear_requests();
  CHECK(fixture.run() == ExitCode::LocalStorage);
  INFO(fixture.summary);
  CHECK(contains(fixture.summary, fixture.dest.string() + " holds 0 of " +
                                      std::to_string(verified) + " verified files"));
  CHECK(contains(fixture.summary, "not mounted?"));
  CHECK(fs::is_empty(fixture.dest));
  CHECK(fixture.server->requests().empty());
  CHECK(verified_files(fixture) == verified);

  SECTION("the stop lasts until the storage is back or a refetch is asked for") {
    CHECK(fixture.run() == ExitCode::LocalStorage);
    CHECK(fs::is_empty(fixture.dest));

    CHECK(fixture.refetch_run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
    CHECK(verified_files(fixture) == verified);
    // From then on this dest is the mirror's again: a deleted file comes back without a refetch.
    fs::remove(fixture.dest / "LICENSE.txt");
    CHECK(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
  }
}

TEST_CASE("files a user deleted come back, a lost marker is written again", "[mirror][dest]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);

  SECTION("a few files deleted") {
    fs::remove(fixture.dest / "LICENSE.txt");
    fs::remove_all(fixture.dest / "files/p10");
    CHECK(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
  }
  SECTION("the work area deleted, the files kept (or a state from before markers)") {
    fs::remove_all(fixture.dest / ".pnsync-partial");
    fs::remove(fixture.dest / "LICENSE.txt");
    fixture.server->clear_requests();
    CHECK(fixture.run() == ExitCode::Ok);
    CHECK_MIRRORED(fixture);
    CHECK(contains(fixture.log, "marker"));
    // Only what was missing was fetched.
    CHECK(fixture.server->count_requests(fixture.url_path("LICENSE.txt")) == 1);
    CHECK(fixture.server->count_requests(fixture.url_path("files/p10/p10000032/s50414267/")) == 0);
    fs::remove_all(fixture.dest);
    fs::create_directory(fixture.dest);
    CHECK(fixture.run() == ExitCode::LocalStorage);  // the marker is what is checked again
  }
}

TEST_CASE("check_destination: each verdict", "[dest]") {
  Sandbox sandbox;
  const fs::path dest = sandbox.path() / "dest";
  const auto never = [] {
    FAIL("no verified file should be looked for");
    return false;
  };
  const auto present = [] { return true; };
  const auto absent = [] { return false; };

  // Nothing to lose: a first pass creates dest.
  CHECK(check_destination(dest, "m/1", {}, never, false).verdict == DestVerdict::Fresh);
  // The state holds files, dest is gone.
  auto missing = check_destination(dest, "m/1", {std::nullopt, 3}, never, false);
  CHECK(missing.verdict == DestVerdict::Missing);
  CHECK_FALSE(missing.may_start());
  CHECK(contains(missing.message, "holds 3 verified files of m/1"));
  // A pass ran there before (marker recorded) but nothing was verified yet: still guarded.
  CHECK(check_destination(dest, "m/1", {"mirror-ab", 0}, never, false).verdict ==
        DestVerdict::Missing);
  // The operator said so.
  CHECK(check_destination(dest, "m/1", {"mirror-ab", 3}, never, true).verdict ==
        DestVerdict::Refetch);

  fs::create_directories(dest / ".pnsync-partial");
  CHECK(check_destination(dest, "m/1", {"mirror-ab", 3}, present, false).verdict ==
        DestVerdict::Unmarked);
  auto foreign = check_destination(dest, "m/1", {"mirror-ab", 1234567}, absent, false);
  CHECK(foreign.verdict == DestVerdict::Foreign);
  CHECK(contains(foreign.message, "holds 0 of 1,234,567 verified files of m/1: not mounted?"));
  CHECK(check_destination(dest, "m/1", {"mirror-ab", 0}, never, false).verdict ==
        DestVerdict::Foreign);
  write_file(dest / ".pnsync-partial" / "mirror-ab", "x");
  auto marked = check_destination(dest, "m/1", {"mirror-ab", 3}, never, false);
  CHECK(marked.verdict == DestVerdict::Marked);
  CHECK_FALSE(marked.writes_marker());
  // Another state's marker is not this one's.
  CHECK(check_destination(dest, "m/1", {"mirror-cd", 3}, absent, false).verdict ==
        DestVerdict::Foreign);
}

TEST_CASE("marker names are random and distinct", "[dest]") {
  const std::string first = new_marker_name();
  CHECK(first.size() == std::string("mirror-").size() + 32);
  CHECK(first.starts_with("mirror-"));
  CHECK(new_marker_name() != first);
}
