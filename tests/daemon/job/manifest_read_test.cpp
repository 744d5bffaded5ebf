// SPDX-License-Identifier: MIT
// One read of SHA256SUMS.txt into a real SQLite file: which entries each scope stores, which
// directories the crawl is told the manifest covers (so that it lists none of them), and what a
// hostile or unreadable manifest does.
#include "daemon/job/manifest_read.hpp"

#include <fcntl.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "daemon/disk/local_tree.hpp"
#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::Sandbox;

namespace {

std::string line(const std::string& path, char digit = 'a') {
  return std::string(64, digit) + "  " + path + "\n";
}

struct ReadBench {
  Sandbox sandbox;
  Log log{LogLevel::Error};
  store::Store store{sandbox / "state.db"};
  store::MirrorId mirror = store.ensure_mirror("demo/1.0", (sandbox / "dest").string());
  Selection selection;
  std::set<std::string> covered;

  Result<ManifestRead> read(const std::string& manifest, ManifestScope scope,
                            const std::vector<std::string>& tables = {}) {
    const auto file = sandbox / "SHA256SUMS.txt";
    test::write_file(file, manifest);
    const UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    const ManifestReadContext context{
        log,
        store,
        mirror,
        "https://physionet.test/files/demo/1.0/SHA256SUMS.txt",
        file.string(),
        selection,
        [this](std::string_view path) { return selection.selected(path); }};
    return read_manifest_into_store(fd.get(), scope, context, tables, covered);
  }
  bool stored(const std::string& path) { return store.find_file(mirror, path).has_value(); }
};

}  // namespace

TEST_CASE("manifest read: every wanted entry is stored with its checksum, its directories covered",
          "[manifest_read]") {
  ReadBench bench;
  const auto read =
      bench.read(line("files/p10/a.dcm") + line("files/p10/b.dcm", 'b') + line("README"),
                 ManifestScope::Selection);
  REQUIRE(read);
  CHECK(read->listed == 3);
  CHECK(read->kept == 3);
  CHECK(read->refused == 0);
  const auto record = bench.store.find_file(bench.mirror, "files/p10/b.dcm");
  REQUIRE(record);
  CHECK(record->expected_sha256 == std::string(64, 'b'));
  CHECK(bench.covered == std::set<std::string>{"files/", "files/p10/"});
}

TEST_CASE(
    "manifest read: with every image excluded, files/ is still covered, so the crawl does not "
    "list the folders the manifest describes",
    "[manifest_read]") {
  ReadBench bench;
  config::SelectionSpec spec;
  spec.exclude = {"**/*.dcm"};
  bench.selection = Selection::build(spec, bench.sandbox / "dest").value();
  const auto read = bench.read(line("files/p10/a.dcm") + line("README"), ManifestScope::Selection);
  REQUIRE(read);
  CHECK(read->listed == 2);
  CHECK(read->kept == 1);
  CHECK(bench.stored("README"));
  CHECK_FALSE(bench.stored("files/p10/a.dcm"));
  CHECK(bench.covered.contains("files/"));
}

TEST_CASE("manifest read: the tables scope stores only the tables and covers nothing",
          "[manifest_read]") {
  ReadBench bench;
  const auto read = bench.read(line("cxr-record-list.csv.gz") + line("files/a.dcm") + "junk\n",
                               ManifestScope::Tables, {"cxr-record-list.csv.gz"});
  REQUIRE(read);
  CHECK(read->kept == 1);
  CHECK(read->refused == 0);  // the selection's read reports the lines
  CHECK(bench.stored("cxr-record-list.csv.gz"));
  CHECK_FALSE(bench.stored("files/a.dcm"));
  CHECK(bench.covered.empty());
}

TEST_CASE(
    "manifest read: a path with two checksums is not stored and its folder is left to the crawl, "
    "and refused lines are counted",
    "[manifest_read]") {
  ReadBench bench;
  const auto read =
      bench.read(line("x/dup", 'a') + line("x/dup", 'b') + line("../evil") + line("y/ok"),
                 ManifestScope::Selection);
  REQUIRE(read);
  CHECK(read->refused == 2);
  CHECK_FALSE(bench.stored("x/dup"));
  CHECK_FALSE(bench.stored("../evil"));
  CHECK(bench.stored("y/ok"));
  CHECK_FALSE(bench.covered.contains("x/"));  // listed, to find the file and check it by size
  CHECK(bench.covered.contains("y/"));
}

TEST_CASE("manifest read: a read that fails names the manifest's file", "[manifest_read]") {
  ReadBench bench;
  const ManifestReadContext context{bench.log,
                                    bench.store,
                                    bench.mirror,
                                    "https://physionet.test/files/demo/1.0/SHA256SUMS.txt",
                                    "/srv/dest/SHA256SUMS.txt",
                                    bench.selection,
                                    [](std::string_view) { return true; }};
  const auto read =
      read_manifest_into_store(-1, ManifestScope::Selection, context, {}, bench.covered);
  REQUIRE_FALSE(read);
  CHECK_THAT(read.error().message, Catch::Contains("/srv/dest/SHA256SUMS.txt"));
}
