// SPDX-License-Identifier: MIT
#include "daemon/manifest.hpp"

#include <catch2/catch.hpp>

#include "tests/support/sandbox.hpp"

#include <optional>
#include <string>
#include <vector>

using pnsync::Manifest;
using pnsync::ManifestEntry;
using pnsync::parse_manifest;

namespace {

using Strings = std::vector<std::string>;

std::string fixture(const std::string& name) {
  return pnsync::test::read_file(std::string(PNSYNC_FIXTURES_DIR) + "/manifests/" + name);
}

const std::string kHex = "aac0bb087d1192dbc25604ac2803f622c00430f0646cd1eab33a8720ddff05f9";
const std::string kHexUpper = "AAC0BB087D1192DBC25604AC2803F622C00430F0646CD1EAB33A8720DDFF05F9";
const std::string kOther = "62b0502855afa21958ebdc148b4948dd74f62ab8f6848b21fe956e32512b5344";

Strings paths_of(const Manifest& manifest) {
  Strings paths;
  for (const auto& e : manifest.entries) paths.push_back(e.path);
  return paths;
}

}  // namespace

TEST_CASE("MIMIC-CXR 2.0.0's SHA256SUMS.txt covers only the top level", "[manifest]") {
  const std::string text = fixture("mimic-cxr-2.0.0.SHA256SUMS.txt");
  REQUIRE(text.size() == 339);  // the real file's size
  const Manifest manifest = parse_manifest(text);
  CHECK(paths_of(manifest) == Strings{"LICENSE.txt", "cxr-record-list.csv.gz",
                                      "cxr-study-list.csv.gz", "mimic-cxr-reports.zip"});
  CHECK(manifest.problems.empty());
  CHECK(manifest.entries[0].sha256 == kHex);
  CHECK(manifest.covers_dir(""));
  // 377,110 DICOMs under files/ and not one checksum: that tree must be crawled.
  CHECK_FALSE(manifest.covers_dir("files/"));
  CHECK_FALSE(manifest.covers_dir("files"));
  CHECK(manifest.covered_dirs.empty());
}

TEST_CASE("MIMIC-CXR-JPG 2.1.0's SHA256SUMS.txt covers the image tree", "[manifest]") {
  const Manifest manifest = parse_manifest(fixture("mimic-cxr-jpg-2.1.0.SHA256SUMS.txt"));
  CHECK(manifest.entries.size() == 11);
  CHECK(manifest.problems.empty());
  CHECK(manifest.covered_dirs == Strings{"files/", "files/p10/", "files/p10/p10000032/",
                                         "files/p10/p10000032/s50414267/",
                                         "files/p10/p10000032/s53189527/", "files/p11/",
                                         "files/p11/p11000011/", "files/p11/p11000011/s51029426/"});

  auto [dir, covered] = GENERATE(table<std::string, bool>({
      {"", true},
      {"files/", true},
      {"files", true},
      {"files/p10/", true},
      {"files/p10/p10000032/s50414267/", true},
      {"files/p11/p11000011/s51029426", true},
      {"files/p12/", false},
      {"files/p1/", false},  // a prefix of "p10", not a directory of it
      {"files/p10/p10000032/s5/", false},
      {"files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg", false},
      {"LICENSE.txt", false},  // a file is not a directory
      {"other/", false},
  }));
  CAPTURE(dir);
  CHECK(manifest.covers_dir(dir) == covered);
}

TEST_CASE("covers_dir on a hand-built manifest without an index scans the entries", "[manifest]") {
  Manifest manifest;
  manifest.entries.push_back(ManifestEntry{"files/p10/a.dcm", kHex});
  CHECK(manifest.covers_dir("files/"));
  CHECK(manifest.covers_dir("files/p10"));
  CHECK_FALSE(manifest.covers_dir("files/p1/"));
  CHECK_FALSE(manifest.covers_dir("other/"));
  CHECK(manifest.covers_dir(""));
  CHECK_FALSE(Manifest{}.covers_dir(""));
}

TEST_CASE("one manifest line, accepted or refused", "[manifest]") {
  auto [line, path, problem] =
      GENERATE(table<std::string, std::optional<std::string>, std::string>({
          {kHex + " a.txt", "a.txt", ""},   // PhysioNet: one space
          {kHex + "  a.txt", "a.txt", ""},  // sha256sum text mode
          {kHex + " *a.txt", "a.txt", ""},  // sha256sum binary mode
          {kHexUpper + " a.txt", "a.txt", ""},
          {kHex + " a.txt\r", "a.txt", ""},              // CRLF
          {kHex + " ./files/a.txt", "files/a.txt", ""},  // find . | xargs sha256sum
          {kHex + " a b & c.txt", "a b & c.txt", ""},
          {kHex + "   a.txt", " a.txt", ""},  // text marker, then a name with a space
          {kHex + " files/p10/p10000032/s50414267.txt", "files/p10/p10000032/s50414267.txt", ""},
          {kHex + " ../etc/passwd", std::nullopt, "line 1: unsafe path \"../etc/passwd\""},
          {kHex + " /etc/passwd", std::nullopt, "line 1: unsafe path \"/etc/passwd\""},
          {kHex + " a//b", std::nullopt, "line 1: unsafe path"},
          {kHex + " a/", std::nullopt, "line 1: unsafe path"},
          {kHex + " a\\b", std::nullopt, "line 1: unsafe path \"a\\x5cb\""},  // backslash
          {"\\" + kHex + " a\\\\b", std::nullopt, "line 1: escaped file name"},
          {kHex + " a\x1b[2Jb", std::nullopt, "line 1: unsafe path \"a\\x1b[2Jb\""},
          {kHex + " *", std::nullopt, "line 1: no path"},
          {kHex + " ", std::nullopt, "line 1: no path"},
          {kHex, std::nullopt, "line 1: no space and path"},
          {kHex + "\ta.txt", std::nullopt, "line 1: no space and path"},
          {kHex + "0 a.txt", std::nullopt, "line 1: checksum longer than 64"},
          {kHex.substr(1) + " a.txt", std::nullopt, "line 1: not \"<64 hex digits> <path>\""},
          {"z" + kHex.substr(1) + " a.txt", std::nullopt, "line 1: not"},
          {"SHA256 (a.txt) = " + kHex, std::nullopt, "line 1: not"},
      }));
  CAPTURE(line);
  const Manifest manifest = parse_manifest(line + "\n");
  if (path) {
    REQUIRE(manifest.entries.size() == 1);
    CHECK(manifest.entries[0].path == *path);
    CHECK(manifest.entries[0].sha256 == kHex);
    CHECK(manifest.problems.empty());
  } else {
    CHECK(manifest.entries.empty());
    REQUIRE(manifest.problems.size() == 1);
    CHECK_THAT(manifest.problems[0], Catch::Matchers::StartsWith(problem));
  }
}

TEST_CASE("refused lines are reported by number and the rest of the file still counts",
          "[manifest]") {
  const std::string text = kHex + " b.txt\r\n" +    // line 1
                           "\r\n" +                 // line 2: blank, ignored silently
                           kHex + " ../x\r\n" +     // line 3: refused
                           kOther + " a.txt\r\n" +  // line 4
                           kHex + " b.txt\r\n" +    // line 5: same path, same sum
                           kHex + " c.txt";         // line 6: no final newline
  const Manifest manifest = parse_manifest(text);
  CHECK(paths_of(manifest) == Strings{"b.txt", "a.txt", "c.txt"});  // file order, not sorted
  CHECK(manifest.problems ==
        Strings{"line 3: unsafe path \"../x\"", "line 5: duplicate of line 1"});
}

TEST_CASE("two different checksums for one path: neither is trusted", "[manifest]") {
  const Manifest manifest =
      parse_manifest(kHex + " a.txt\n" + kHex + " keep.txt\n" + kOther + " a.txt\n");
  CHECK(paths_of(manifest) == Strings{"keep.txt"});
  REQUIRE(manifest.problems.size() == 1);
  CHECK_THAT(manifest.problems[0],
             Catch::Matchers::StartsWith("line 3: checksum differs from line 1"));
}

TEST_CASE("an empty or blank manifest is empty, not a problem", "[manifest]") {
  const std::string text = GENERATE(as<std::string>{}, "", "\n", "\r\n", "  \n\t\n");
  const Manifest manifest = parse_manifest(text);
  CHECK(manifest.entries.empty());
  CHECK(manifest.problems.empty());
  CHECK_FALSE(manifest.covers_dir(""));
}

TEST_CASE("problem lines never carry raw control bytes into the log", "[manifest]") {
  const Manifest manifest =
      parse_manifest(kHex + " \x1b]0;pwned\x07/" + std::string(500, 'x') + "\n");
  REQUIRE(manifest.problems.size() == 1);
  const std::string& problem = manifest.problems[0];
  CHECK(problem.find('\x1b') == std::string::npos);
  CHECK(problem.find('\x07') == std::string::npos);
  CHECK(problem.size() < 200);
}

TEST_CASE("memory reserved for entries follows the bytes, not the newlines", "[manifest][fuzz]") {
  // Seen while writing tests/fuzz/fuzz_manifest, which runs out of memory on 40 MB of "\n": it
  // reserved an entry per newline (72 bytes with the map's bucket), 72 GiB for a 1 GiB manifest.
  const std::string blank(1'000'000, '\n');
  const Manifest manifest = parse_manifest(blank);
  CHECK(manifest.entries.empty());
  CHECK(manifest.entries.capacity() <= blank.size() / 66 + 1);
  // Reserving less changes nothing for a manifest of short lines, every one an entry.
  std::string dense;
  for (int i = 0; i < 1000; ++i) dense += kHex + " " + std::to_string(i) + "\n";
  CHECK(parse_manifest(dense).entries.size() == 1000);
}
