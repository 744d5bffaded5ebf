// SPDX-License-Identifier: MIT
// Selective sync end to end against the loopback test server: what is fetched, what is listed
// (the server's request log), what a narrower selection keeps, and what --dry-run shows.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <nlohmann/json.hpp>

#include "tests/daemon/gzip_file.hpp"
#include "tests/daemon/mirror_fixture.hpp"
#include "tests/store/store_helpers.hpp"

using namespace pnsync;
using namespace pnsync::test;
using Catch::Matchers::Contains;

namespace {

const std::string kFrontalTest =
    "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm";
const std::string kLateralTest =
    "files/p10/p10000032/s50414267/174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962.dcm";
const std::string kFrontalTrain =
    "files/p11/p11000011/s51234567/2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.dcm";

std::string gzip_bytes(const Sandbox& sandbox, const std::string& name, const std::string& text) {
  const auto path = sandbox / "gz" / name;
  GzipWriter writer(path);
  writer.write(text);
  writer.close();
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The metadata and split tables of the fixture's four images, as MIMIC-CXR ships them.
FixtureOptions with_tables() {
  Sandbox scratch;
  FixtureOptions options;
  options.extra_files["mimic-cxr-2.0.0-metadata.csv.gz"] = gzip_bytes(
      scratch, "metadata.csv.gz",
      "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition\n"
      "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014,10000032,50414267,\"CHEST (PA, LAT)\",PA\n"
      "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962,10000032,50414267,\"CHEST (PA, LAT)\",LATERAL\n"
      "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab,11000011,51234567,\"CHEST "
      "\"\"PORTABLE\"\"\",AP\n"
      "empty file,11000011,51234567,,PA\n");
  options.extra_files["mimic-cxr-2.0.0-split.csv.gz"] =
      gzip_bytes(scratch, "split.csv.gz",
                 "dicom_id,study_id,subject_id,split\n"
                 "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014,50414267,10000032,test\n"
                 "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962,50414267,10000032,test\n"
                 "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab,51234567,11000011,train\n"
                 "empty file,51234567,11000011,train\n");
  return options;
}

config::SelectSpec frontal_test_split() {
  config::SelectSpec select;
  select.table = "mimic-cxr-2.0.0-metadata.csv.gz";
  select.where = {{"ViewPosition", {"PA", "AP"}}};
  select.join = config::JoinSpec{"mimic-cxr-2.0.0-split.csv.gz", "dicom_id", {{"split", {"test"}}}};
  select.path = "files/p{subject_id:0:2}/p{subject_id}/s{study_id}/{dicom_id}.dcm";
  select.with_reports = true;
  return select;
}

std::vector<std::string> local_files(const std::filesystem::path& dest) {
  std::vector<std::string> out;
  for (auto it = std::filesystem::recursive_directory_iterator(dest);
       it != std::filesystem::recursive_directory_iterator(); ++it) {
    if (it->path().filename() == ".pnsync-partial") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) out.push_back(std::filesystem::relative(it->path(), dest).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t listings_under(const HttpServer& server, const std::string& dir) {
  std::size_t n = 0;
  for (const auto& request : server.requests())
    if (request.path.starts_with(std::string(kPrefix) + dir) && request.path.ends_with("/")) ++n;
  return n;
}

// The paths of every file (not listing) the server was asked for, sorted, without repeats.
std::vector<std::string> files_requested(const HttpServer& server) {
  std::vector<std::string> paths;
  for (const auto& request : server.requests())
    if (!request.path.ends_with("/")) paths.push_back(request.path.substr(std::strlen(kPrefix)));
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

// A SHA256SUMS.txt of `entries` lines in byte order, MIMIC-CXR-JPG style: every file of the
// source tree (`extra` included) with its real checksum, padded with made-up study files spread
// over the same group folders (never served: a mirror that asked for one would get a 404).
std::string big_manifest(const MirrorFixture& fixture,
                         const std::map<std::string, std::string>& extra, std::size_t entries) {
  std::vector<std::string> lines;
  for (const auto* files : {&fixture.files, &extra})
    for (const auto& [path, content] : *files)
      if (path != "SHA256SUMS.txt") lines.push_back(sha256_hex(content) + " " + path);
  for (std::size_t i = 0; lines.size() < entries; ++i) {
    const std::string subject = std::to_string(10'500'000 + i / 4 * 37);
    const std::string path = "files/p" + subject.substr(0, 2) + "/p" + subject + "/s" +
                             std::to_string(50'000'000 + i / 2) + "/" + std::to_string(i) + ".dcm";
    lines.push_back(sha256_hex(path) + " " + path);
  }
  std::sort(lines.begin(), lines.end(), [](const std::string& a, const std::string& b) {
    return std::string_view(a).substr(65) < std::string_view(b).substr(65);
  });
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// Rows of the mirror's file table, and those among them that carry a manifest checksum.
struct Rows {
  std::int64_t all = 0;
  std::int64_t with_checksum = 0;
};
Rows rows_in_store(const MirrorFixture& fixture) {
  store::test::RawDb db(fixture.config.state_dir / "state.db");
  return {db.integer("SELECT count(*) FROM file"),
          db.integer("SELECT count(*) FROM file WHERE expected_sha256 IS NOT NULL")};
}

}  // namespace

TEST_CASE("select on view position and split fetches exactly those files", "[engine][selection]") {
  MirrorFixture fixture(with_tables());
  fixture.config.mirrors[0].selection.select = frontal_test_split();
  REQUIRE(fixture.run() == ExitCode::Ok);
  INFO(fixture.summary);
  CHECK(local_files(fixture.dest) ==
        std::vector<std::string>{"SHA256SUMS.txt", "files/p10/p10000032/s50414267.txt",
                                 kFrontalTest, "mimic-cxr-2.0.0-metadata.csv.gz",
                                 "mimic-cxr-2.0.0-split.csv.gz"});
  // Only the parents of selected paths were listed: nothing of the p11 group folder.
  CHECK(listings_under(*fixture.server, "files/p10/") > 0);
  CHECK(listings_under(*fixture.server, "files/p11/") == 0);
  CHECK(fixture.server->count_requests(fixture.url_path(kLateralTest)) == 0);
  CHECK(fixture.server->count_requests(fixture.url_path(kFrontalTrain)) == 0);
  CHECK(fixture.server->count_requests(fixture.url_path("LICENSE.txt")) == 0);
  // The tables were verified like any file (by size: the manifest does not list them).
  const auto table = fixture.record("mimic-cxr-2.0.0-metadata.csv.gz");
  REQUIRE(table);
  CHECK(table->state == store::FileState::Verified);
}

TEST_CASE("include prunes the crawl to the matching group folder", "[engine][selection]") {
  MirrorFixture fixture;
  fixture.config.mirrors[0].selection.include = {"files/p10/**"};
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK(listings_under(*fixture.server, "files/p11/") == 0);
  CHECK(std::filesystem::exists(fixture.dest / kLateralTest));
  CHECK_FALSE(std::filesystem::exists(fixture.dest / "files/p11"));
  CHECK_FALSE(std::filesystem::exists(fixture.dest / "LICENSE.txt"));
}

TEST_CASE("a narrower selection keeps what it no longer selects, unless told to delete",
          "[engine][selection]") {
  MirrorFixture fixture;
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK_MIRRORED(fixture);

  fixture.config.mirrors[0].selection.exclude = {"**/*.dcm"};
  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK(std::filesystem::exists(fixture.dest / kLateralTest));  // kept, not selected
  CHECK(fixture.server->count_requests(fixture.url_path(kLateralTest)) == 0);

  fixture.config.mirrors[0].selection.delete_unselected = true;
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK_FALSE(std::filesystem::exists(fixture.dest / kLateralTest));
  CHECK(std::filesystem::exists(fixture.dest / "files/p10/p10000032/s50414267.txt"));

  // Widened again: the deleted images come back.
  fixture.config.mirrors[0].selection = {};
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK_MIRRORED(fixture);
}

TEST_CASE("a dry run shows the plan and fetches only listings and tables", "[engine][selection]") {
  MirrorFixture fixture(with_tables());
  fixture.config.mirrors[0].selection.select = frontal_test_split();
  REQUIRE(fixture.dry_run() == ExitCode::Ok);
  INFO(fixture.summary);
  CHECK_THAT(fixture.summary, Contains("mimic-cxr/2.0.0: plan"));
  // Two tables verified; the image and its report still to fetch, the report's size known from
  // its listing.
  CHECK_THAT(fixture.summary, Contains("selected   5 files"));
  CHECK_THAT(fixture.summary, Contains("to fetch   2 files"));
  CHECK_THAT(fixture.summary, Contains(kFrontalTest));
  CHECK_THAT(fixture.summary, Contains("listing    complete"));
  CHECK_FALSE(std::filesystem::exists(fixture.dest / kFrontalTest));
  CHECK(fixture.server->count_requests(fixture.url_path(kFrontalTest)) == 0);
}

TEST_CASE("a dry run prints the plan as JSON for scripts", "[engine][selection]") {
  MirrorFixture fixture;
  fixture.config.mirrors[0].selection.include = {"files/p10/**"};
  REQUIRE(fixture.dry_run(/*json=*/true) == ExitCode::Ok);
  const auto plans = nlohmann::json::parse(fixture.summary);
  REQUIRE(plans.size() == 1);
  const auto& plan = plans.at(0);
  CHECK(plan.at("mirror") == "mimic-cxr/2.0.0");
  // SHA256SUMS.txt (always kept, already verified), the p10 report and its two images.
  CHECK(plan.at("files_selected") == 4);
  CHECK(plan.at("files_to_fetch") == 3);
  CHECK(plan.at("bytes_to_fetch") == 70000 + 300000 + 32);  // sizes from the listings
  CHECK(plan.at("listing_complete") == true);
}

TEST_CASE("a selection from a 50,000-entry manifest stores and fetches only what it selects",
          "[engine][selection][manifest]") {
  MirrorFixture fixture;
  write_file(fixture.source / "SHA256SUMS.txt", big_manifest(fixture, {}, 50'000));
  const std::string report = "files/p10/p10000032/s50414267.txt";
  write_file(fixture.sandbox / "cohort.txt", report + "\n" + kFrontalTest + "\n");
  fixture.config.mirrors[0].selection.files_from = fixture.sandbox / "cohort.txt";
  REQUIRE(fixture.run() == ExitCode::Ok);
  INFO(fixture.summary);
  CHECK(local_files(fixture.dest) ==
        std::vector<std::string>{"SHA256SUMS.txt", report, kFrontalTest});
  CHECK(files_requested(*fixture.server) ==
        std::vector<std::string>{"SHA256SUMS.txt", report, kFrontalTest});
  // The manifest covers files/: only the root is listed.
  CHECK(listings_under(*fixture.server, "") == 1);
  // Of 50,000 entries, the two selected are stored; the root listing adds its two top-level
  // files (outside the selection) and the manifest its own row.
  const Rows rows = rows_in_store(fixture);
  CHECK(rows.with_checksum == 2);
  CHECK(rows.all == 5);
  const auto image = fixture.record(kFrontalTest);
  REQUIRE(image);
  CHECK(image->verified_by == store::VerifyKind::Sha256Manifest);
  CHECK(fixture.record("files/p10/p10000032/s50414267/0.dcm") == std::nullopt);

  // Wider: the whole study, and its rows.
  fixture.config.mirrors[0].selection = {};
  fixture.config.mirrors[0].selection.include = {"files/p10/p10000032/**"};
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK(std::filesystem::exists(fixture.dest / kLateralTest));
  CHECK(rows_in_store(fixture).with_checksum == 3);

  // Narrower again: the rows of the wider selection stay, outside it; its file is kept.
  fixture.config.mirrors[0].selection = {};
  fixture.config.mirrors[0].selection.files_from = fixture.sandbox / "cohort.txt";
  fixture.server->clear_requests();
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK(files_requested(*fixture.server) == std::vector<std::string>{"SHA256SUMS.txt"});
  CHECK(std::filesystem::exists(fixture.dest / kLateralTest));
  store::test::RawDb db(fixture.config.state_dir / "state.db");
  CHECK(db.integer("SELECT count(*) FROM file WHERE selected") == 3);
  CHECK(db.integer("SELECT count(*) FROM file WHERE NOT selected AND state = 'verified'") == 1);
}

TEST_CASE("select reads its tables, verified against a 50,000-entry manifest, first",
          "[engine][selection][manifest]") {
  FixtureOptions options = with_tables();
  MirrorFixture fixture(options);
  write_file(fixture.source / "SHA256SUMS.txt", big_manifest(fixture, options.extra_files, 50'000));
  fixture.config.mirrors[0].selection.select = frontal_test_split();
  REQUIRE(fixture.run() == ExitCode::Ok);
  INFO(fixture.summary);
  const std::vector<std::string> selected{"SHA256SUMS.txt", "files/p10/p10000032/s50414267.txt",
                                          kFrontalTest, "mimic-cxr-2.0.0-metadata.csv.gz",
                                          "mimic-cxr-2.0.0-split.csv.gz"};
  CHECK(local_files(fixture.dest) == selected);
  CHECK(files_requested(*fixture.server) == selected);
  for (const std::string table :
       {"mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-split.csv.gz"}) {
    const auto record = fixture.record(table);
    REQUIRE(record);
    CHECK(record->verified_by == store::VerifyKind::Sha256Manifest);
  }
  CHECK(rows_in_store(fixture).with_checksum == 4);  // the tables, the image, its report
}

TEST_CASE("a table whose bytes differ from the manifest stops select before anything else",
          "[engine][selection][manifest]") {
  FixtureOptions options = with_tables();
  MirrorFixture fixture(options);
  auto listed = options.extra_files;
  listed["mimic-cxr-2.0.0-split.csv.gz"] += "tampered";  // the manifest promises other bytes
  write_file(fixture.source / "SHA256SUMS.txt", big_manifest(fixture, listed, 1'000));
  fixture.config.mirrors[0].selection.select = frontal_test_split();
  CHECK(fixture.run() == ExitCode::FilesFailed);
  CHECK_THAT(fixture.summary, Contains("select needs mimic-cxr-2.0.0-split.csv.gz"));
  CHECK(fixture.server->count_requests(fixture.url_path(kFrontalTest)) == 0);
  CHECK_FALSE(std::filesystem::exists(fixture.dest / "mimic-cxr-2.0.0-split.csv.gz"));
}

TEST_CASE("a selected path with two checksums in the manifest is found by listing, checked by size",
          "[engine][selection][manifest]") {
  MirrorFixture fixture;
  // Listed twice with different sums, the image has no trusted checksum, and no other entry
  // covers its folders: they are listed (only those leading to it) to find it.
  write_file(fixture.source / "SHA256SUMS.txt",
             sha256_hex(fixture.files.at("LICENSE.txt")) + " LICENSE.txt\n" +
                 sha256_hex(fixture.files.at(kFrontalTest)) + " " + kFrontalTest + "\n" +
                 sha256_hex("other") + " " + kFrontalTest + "\n");
  write_file(fixture.sandbox / "cohort.txt", kFrontalTest + "\n");
  fixture.config.mirrors[0].selection.files_from = fixture.sandbox / "cohort.txt";
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto image = fixture.record(kFrontalTest);
  REQUIRE(image);
  CHECK(image->state == store::FileState::Verified);
  CHECK(image->verified_by == store::VerifyKind::Size);
  CHECK_FALSE(image->expected_sha256);
  CHECK(listings_under(*fixture.server, "files/p10/p10000032/s50414267/") == 1);
  CHECK(listings_under(*fixture.server, "files/p11/") == 0);
  CHECK(fixture.server->count_requests(fixture.url_path(kLateralTest)) == 0);
}

TEST_CASE(
    "directories the manifest covers stay unlisted when the selection keeps none of their entries",
    "[engine][selection][manifest]") {
  // MIMIC-CXR-JPG's shape: the manifest lists every file, and files/ holds only images.
  // Excluding the images keeps no entry below files/, yet may_list cannot rule files/ out (a
  // file of another kind could lie there): it must still count as covered, or every folder of
  // the project would be listed.
  MirrorFixture fixture;
  std::string manifest;
  for (const auto& [path, content] : fixture.files)
    if (path.find('/') == std::string::npos || path.ends_with(".dcm"))
      if (path != "SHA256SUMS.txt") manifest += sha256_hex(content) + " " + path + "\n";
  write_file(fixture.source / "SHA256SUMS.txt", manifest);
  fixture.config.mirrors[0].selection.exclude = {"**/*.dcm"};
  REQUIRE(fixture.run() == ExitCode::Ok);
  CHECK(listings_under(*fixture.server, "") == 1);  // the root only
  CHECK(files_requested(*fixture.server) ==
        std::vector<std::string>{"LICENSE.txt", "SHA256SUMS.txt", "cxr-record-list.csv.gz"});
  CHECK(rows_in_store(fixture).with_checksum == 2);  // the top-level files
}
