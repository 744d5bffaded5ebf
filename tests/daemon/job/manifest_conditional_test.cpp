// SPDX-License-Identifier: MIT
// The manifest request is conditional: a pass whose SHA256SUMS.txt has not changed upstream gets
// a 304 and reads the copy an earlier pass published, after hashing it. Real passes against the
// in-process server, whose files answer If-Modified-Since as nginx does (exact date, files only).
#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/daemon/mirror_fixture.hpp"
#include "tests/support/http_wire.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

const std::string kManifest = "SHA256SUMS.txt";

std::vector<RequestRecord> manifest_requests(const MirrorFixture& fixture) {
  std::vector<RequestRecord> found;
  for (auto& request : fixture.server->requests())
    if (request.path == fixture.url_path(kManifest)) found.push_back(std::move(request));
  return found;
}

std::time_t mtime_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mtime;
}

void set_mtime(const std::filesystem::path& file, std::time_t when) {
  const struct timespec times[2] = {{when, 0}, {when, 0}};
  REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
}

// The date the server's Last-Modified gave for the source's SHA256SUMS.txt, as sent back.
std::string date_of_source_manifest(const MirrorFixture& fixture) {
  return http::imf_fixdate(mtime_of(fixture.source / kManifest));
}

// Every file of the fixture is verified, the manifest's own row included.
void check_all_verified(const MirrorFixture& fixture) {
  for (const auto& [path, content] : fixture.files) {
    CAPTURE(path);
    const auto record = fixture.record(path);
    REQUIRE(record);
    CHECK(record->state == store::FileState::Verified);
  }
}

}  // namespace

TEST_CASE("an unchanged SHA256SUMS.txt is asked for with If-Modified-Since and not sent again",
          "[mirror][manifest][conditional]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto first = manifest_requests(fixture);
  REQUIRE(first.size() == 1);
  CHECK_FALSE(first[0].header("If-Modified-Since"));  // nothing recorded yet
  CHECK(first[0].status == 200);

  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto requests = fixture.server->requests();
  REQUIRE(requests.size() == 1);  // no file fetched again
  CHECK(requests[0].path == fixture.url_path(kManifest));
  CHECK(requests[0].header("If-Modified-Since") == date_of_source_manifest(fixture));
  CHECK(requests[0].status == 304);
  CHECK(fixture.server->body_bytes_sent() == 0);
  CHECK_THAT(fixture.log, Catch::Contains("SHA256SUMS.txt unchanged (304); lists 2 files"));
  CHECK(partial_files(fixture.dest).empty());
  CHECK_MIRRORED(fixture);
  check_all_verified(fixture);
}

TEST_CASE("after a 304 the entries come from the local copy, as after a 200",
          "[mirror][manifest][conditional]") {
  // LICENSE.txt is left out at first, so the store holds no entry for it; widening the selection
  // needs the manifest's entry, which on the second pass only the local copy can give.
  MirrorFixture fixture;
  fixture.config.mirrors[0].selection.exclude = {"LICENSE.txt"};
  REQUIRE(fixture.run() == ExitCode::Ok);
  REQUIRE_FALSE(std::filesystem::exists(fixture.dest / "LICENSE.txt"));

  fixture.config.mirrors[0].selection.exclude.clear();
  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto manifest = manifest_requests(fixture);
  REQUIRE(manifest.size() == 1);
  CHECK(manifest[0].status == 304);
  CHECK(fixture.server->count_requests(fixture.url_path("LICENSE.txt")) == 1);
  const auto license = fixture.record("LICENSE.txt");
  REQUIRE(license);
  CHECK(license->state == store::FileState::Verified);
  CHECK(license->verified_by == store::VerifyKind::Sha256Manifest);
  CHECK_MIRRORED(fixture);
}

TEST_CASE("a --verify pass over an unchanged manifest checks files against its entries",
          "[mirror][manifest][conditional][verify]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  std::string license = fixture.files.at("LICENSE.txt");
  license[0] ^= 0x20;  // same size, other bytes
  write_file(fixture.dest / "LICENSE.txt", license);

  fixture.server->clear_requests();
  REQUIRE(fixture.verify_run() == ExitCode::Ok);
  const auto manifest = manifest_requests(fixture);
  REQUIRE(manifest.size() == 1);
  CHECK(manifest[0].status == 304);
  CHECK(fixture.server->count_requests(fixture.url_path("LICENSE.txt")) == 1);
  CHECK_MIRRORED(fixture);
  check_all_verified(fixture);
}

TEST_CASE("a SHA256SUMS.txt changed upstream is answered 200 and its new entries fetched",
          "[mirror][manifest][conditional]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  const std::time_t published = mtime_of(fixture.source / kManifest);

  const std::string news = "version 2.0.1: one more file\n";
  fixture.files["NEWS.txt"] = news;
  write_file(fixture.source / "NEWS.txt", news);
  fixture.files[kManifest] += sha256_hex(news) + " NEWS.txt\n";
  write_file(fixture.source / kManifest, fixture.files[kManifest]);
  set_mtime(fixture.source / kManifest, published + 60);  // nginx compares dates exactly

  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto manifest = manifest_requests(fixture);
  REQUIRE(manifest.size() == 1);
  CHECK(manifest[0].header("If-Modified-Since") == http::imf_fixdate(published));
  CHECK(manifest[0].status == 200);
  CHECK(fixture.server->count_requests(fixture.url_path("NEWS.txt")) == 1);
  const auto record = fixture.record("NEWS.txt");
  REQUIRE(record);
  CHECK(record->verified_by == store::VerifyKind::Sha256Manifest);
  CHECK(mtime_of(fixture.dest / kManifest) == published + 60);
  CHECK_MIRRORED(fixture);

  // The record follows the new copy: the next pass asks with the new date and gets a 304.
  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto next = manifest_requests(fixture);
  REQUIRE(next.size() == 1);
  CHECK(next[0].header("If-Modified-Since") == http::imf_fixdate(published + 60));
  CHECK(next[0].status == 304);
}

TEST_CASE("a local SHA256SUMS.txt with other bytes, same size and mtime, is fetched again",
          "[mirror][manifest][conditional]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto local = fixture.dest / kManifest;
  const std::time_t published = mtime_of(local);
  std::string edited = fixture.files.at(kManifest);
  edited[0] = edited[0] == '0' ? '1' : '0';  // the first hash now names other bytes
  write_file(local, edited);
  set_mtime(local, published);

  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto manifest = manifest_requests(fixture);
  REQUIRE(manifest.size() == 2);
  CHECK(manifest[0].header("If-Modified-Since") == date_of_source_manifest(fixture));
  CHECK(manifest[0].status == 304);
  CHECK_FALSE(manifest[1].header("If-Modified-Since"));
  CHECK(manifest[1].status == 200);
  CHECK(fixture.server->requests().size() == 2);  // no other file fetched
  CHECK_THAT(fixture.log,
             Catch::Contains(local.string() + ": SHA-256 differs from the one recorded; fetching "
                                              "SHA256SUMS.txt again without If-Modified-Since"));
  CHECK(read_file(local) == fixture.files.at(kManifest));
  CHECK_MIRRORED(fixture);
  check_all_verified(fixture);

  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto next = manifest_requests(fixture);
  REQUIRE(next.size() == 1);
  CHECK(next[0].status == 304);
}

TEST_CASE("a local SHA256SUMS.txt the record does not describe is asked for without a condition",
          "[mirror][manifest][conditional]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto local = fixture.dest / kManifest;
  const std::time_t published = mtime_of(local);
  SECTION("dest lost it") {
    std::filesystem::remove(local);
  }
  SECTION("another size, same mtime") {
    write_file(local, fixture.files.at(kManifest) + "\n");
    set_mtime(local, published);
  }
  SECTION("same bytes, another mtime") {
    set_mtime(local, published - 3600);
  }
  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto manifest = manifest_requests(fixture);
  REQUIRE(manifest.size() == 1);
  CHECK_FALSE(manifest[0].header("If-Modified-Since"));
  CHECK(manifest[0].status == 200);
  CHECK(mtime_of(local) == published);
  CHECK_MIRRORED(fixture);
}

TEST_CASE("a server that ignores If-Modified-Since answers 200 and the pass goes on as usual",
          "[mirror][manifest][conditional]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  fixture.server->set_fault(fixture.url_path(kManifest), {.kind = Fault::Kind::IgnoreConditional});

  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto requests = fixture.server->requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].header("If-Modified-Since") == date_of_source_manifest(fixture));
  CHECK(requests[0].status == 200);
  CHECK(requests[0].body_bytes == fixture.files.at(kManifest).size());
  CHECK_THAT(fixture.log, Catch::Contains("SHA256SUMS.txt lists 2 files"));
  CHECK_MIRRORED(fixture);
  check_all_verified(fixture);
}

TEST_CASE("a 304 to a request without a condition stops the pass, naming the URL",
          "[mirror][manifest][conditional]") {
  // Nothing is recorded yet, so nothing was asked for: an empty body must not become the manifest.
  MirrorFixture fixture;
  const auto target = fixture.url_path(kManifest);
  fixture.server->set_fault(target, {.kind = Fault::Kind::Status, .status = 304, .times = 1});
  CHECK(fixture.run() == ExitCode::FilesFailed);
  CHECK(fixture.server->requests().size() == 1);
  CHECK_THAT(fixture.summary,
             Catch::Contains(fixture.server->base_url() + target +
                             ": 304 Not Modified to a request without a condition"));
  CHECK_FALSE(std::filesystem::exists(fixture.dest / kManifest));
}
