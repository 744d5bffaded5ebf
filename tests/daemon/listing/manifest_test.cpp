// SPDX-License-Identifier: MIT
#include "daemon/listing/manifest.hpp"

#include <catch2/catch.hpp>

#include "tests/support/sandbox.hpp"

#include <optional>
#include <string>
#include <vector>

using pnsync::kMaxManifestLine;
using pnsync::Manifest;
using pnsync::ManifestEntries;
using pnsync::ManifestEntry;
using pnsync::ManifestParser;
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

// Entries and problems as one list of lines, so that a difference shows which.
Strings outcome(const Manifest& manifest) {
  Strings lines;
  for (const auto& e : manifest.entries) lines.push_back(e.sha256 + " " + e.path);
  for (const auto& problem : manifest.problems) lines.push_back("! " + problem);
  return lines;
}

// What parse_manifest does, but fed in the given pieces (their sizes, repeated to the end), the
// way the engine reads the manifest from disk. Also checks that the parser never holds more than
// one line's worth of bytes.
Manifest parse_in_pieces(std::string_view text, const std::vector<std::size_t>& sizes) {
  return pnsync::collect_manifest([&](ManifestParser& parser) {
    for (std::size_t i = 0, at = 0; at < text.size(); ++i) {
      const std::size_t size = std::min(sizes[i % sizes.size()], text.size() - at);
      parser.feed(text.substr(at, size));
      at += size;
      CHECK(parser.held() <= kMaxManifestLine);
    }
  });
}

// Every kind of line, CRLF and LF, duplicates, a conflict, a refused line, a last line without
// its line end.
const std::string kMixed = kHex + " files/p10/a.dcm\r\n" +      // 1
                           "\r\n" +                             // 2: blank
                           kHexUpper + "  files/p10/b.dcm\n" +  // 3: text marker, upper case
                           kOther + " *c.txt\r\n" +             // 4: binary marker
                           kHex + " ../x\n" +                   // 5: refused
                           kHex + " files/p10/a.dcm\n" +        // 6: duplicate of 1
                           kHex + " c.txt\n" +                  // 7: conflicts with 4
                           "not a line\r\n" +                   // 8: refused
                           kOther + " ./d.txt";                 // 9: no line end

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
          // pnsync's own folder under dest: fetched there, it would be published into it.
          {kHex + " .pnsync-partial/x.part", std::nullopt,
           "line 1: path inside pnsync's work area \".pnsync-partial/x.part\""},
          {kHex + " ./.pnsync-partial", std::nullopt, "line 1: path inside pnsync's work area"},
          {kHex + " files/.pnsync-partial/a", "files/.pnsync-partial/a", ""},  // only at the top
          {kHex + " .pnsync-partial-notes.txt", ".pnsync-partial-notes.txt", ""},
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

TEST_CASE("the mixed manifest the streaming tests split", "[manifest]") {
  const Manifest manifest = parse_manifest(kMixed);
  CHECK(outcome(manifest) ==
        Strings{kHex + " files/p10/a.dcm", kHex + " files/p10/b.dcm", kOther + " d.txt",
                "! line 5: unsafe path \"../x\"", "! line 6: duplicate of line 1",
                "! line 7: checksum differs from line 4 for the same path; both dropped",
                "! line 8: not \"<64 hex digits> <path>\""});
}

TEST_CASE("a manifest split at any byte parses as it does whole", "[manifest][stream]") {
  const Strings whole = outcome(parse_manifest(kMixed));
  for (std::size_t split = 0; split <= kMixed.size(); ++split) {
    CAPTURE(split);
    CHECK(outcome(parse_in_pieces(kMixed, {split == 0 ? kMixed.size() : split, kMixed.size()})) ==
          whole);
  }
  // Every piece size from one byte up: lines, and CRLFs, cut in every place at once.
  for (std::size_t piece = 1; piece <= 140; ++piece) {
    CAPTURE(piece);
    CHECK(outcome(parse_in_pieces(kMixed, {piece})) == whole);
  }
  CHECK(outcome(parse_in_pieces(kMixed, {1, 64, 2, 65, 3})) == whole);
}

TEST_CASE("fed byte by byte, every line gets the verdict parse_manifest gives it",
          "[manifest][stream]") {
  const std::string line = GENERATE(
      kHex + " a.txt", kHex + "  a.txt", kHex + " *a.txt", kHexUpper + " a.txt", kHex + " a.txt\r",
      kHex + " ./files/a.txt", kHex + " ../etc/passwd", kHex + " a//b", kHex + " a\\b",
      "\\" + kHex + " a\\\\b", kHex + " a\x1b[2Jb", kHex + " *", kHex + " ", kHex, kHex + "\ta.txt",
      kHex + "0 a.txt", kHex.substr(1) + " a.txt", "SHA256 (a.txt) = " + kHex, "   ", "\r");
  CAPTURE(line);
  for (const std::string& text : {line + "\n", line, line + "\r\n" + line}) {
    CHECK(outcome(parse_in_pieces(text, {1})) == outcome(parse_manifest(text)));
  }
}

TEST_CASE("a line longer than kMaxManifestLine is refused without being held",
          "[manifest][stream]") {
  // A hostile manifest of one endless line must not grow the parser: it keeps no byte of it.
  const std::string endless = kHex + " " + std::string(1'000'000, 'x');
  const std::string text = kHex + " a.txt\n" + endless + "\n" + kOther + " b.txt\n" + endless;
  const std::string refused = "line 2: longer than " + std::to_string(kMaxManifestLine) +
                              " bytes (no safe path is that long)";
  const Strings expected{kHex + " a.txt", kOther + " b.txt", "! " + refused,
                         "! line 4" + refused.substr(6)};
  CHECK(outcome(parse_manifest(text)) == expected);
  for (const std::size_t piece : {std::size_t{1000}, std::size_t{4096}, kMaxManifestLine - 1,
                                  kMaxManifestLine, kMaxManifestLine + 1}) {
    CAPTURE(piece);
    CHECK(outcome(parse_in_pieces(text, {piece})) == expected);
  }
}

TEST_CASE("the line limit falls at kMaxManifestLine bytes before the newline",
          "[manifest][stream]") {
  // At the limit the line is judged on its content (here: a path too long to be safe); one byte
  // more and it is refused for its length, however the bytes arrive.
  const auto line_of = [](std::size_t size) { return kHex + " " + std::string(size - 65, 'x'); };
  const Manifest at_limit = parse_manifest(line_of(kMaxManifestLine) + "\n");
  REQUIRE(at_limit.problems.size() == 1);
  CHECK_THAT(at_limit.problems[0], Catch::Matchers::StartsWith("line 1: unsafe path"));
  const Manifest over = parse_manifest(line_of(kMaxManifestLine + 1) + "\n");
  REQUIRE(over.problems.size() == 1);
  CHECK_THAT(over.problems[0], Catch::Matchers::StartsWith("line 1: longer than"));
  for (const std::size_t size : {kMaxManifestLine, kMaxManifestLine + 1}) {
    const std::string text = line_of(size) + "\r\n" + kHex + " a.txt";
    CAPTURE(size);
    for (const std::size_t piece : {std::size_t{1}, std::size_t{100}, size - 1, size, size + 1})
      CHECK(outcome(parse_in_pieces(text, {piece})) == outcome(parse_manifest(text)));
  }
  // The longest line that can be accepted is well inside the limit: a path of 4096 bytes
  // (17 segments of 240), both markers and a CR.
  std::string path;
  for (int segment = 0; segment < 17; ++segment)
    path += (segment ? "/" : "") + std::string(240, 'p');
  REQUIRE(path.size() == 4096);
  const std::string longest = kHexUpper + " *./" + path + "\r";
  CHECK(longest.size() < kMaxManifestLine);
  const Manifest accepted = parse_manifest(longest + "\n");
  REQUIRE(accepted.entries.size() == 1);
  CHECK(accepted.entries[0].path == path);
  CHECK(parse_manifest(kHex + " " + path + "p\n").entries.empty());  // 4097 bytes
}

TEST_CASE("ManifestEntries keeps file order and drops both sides of a conflict", "[manifest]") {
  ManifestEntries kept;
  CHECK_FALSE(kept.add(1, "b.txt", kHex));
  CHECK_FALSE(kept.add(2, "a.txt", kHex));
  CHECK(kept.add(3, "b.txt", kHex) == "line 3: duplicate of line 1");
  CHECK(kept.add(4, "a.txt", kOther) ==
        "line 4: checksum differs from line 2 for the same path; both dropped");
  CHECK(kept.add(5, "a.txt", kOther) ==
        "line 5: checksum differs from line 2 for the same path; both dropped");
  CHECK(kept.add(6, "a.txt", kHex) == "line 6: duplicate of line 2");
  CHECK_FALSE(kept.add(7, "c.txt", kOther));
  CHECK(kept.size() == 3);
  const auto entries = kept.take();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].path == "b.txt");
  CHECK(entries[1].path == "c.txt");
  CHECK(entries[1].sha256 == kOther);
  CHECK(kept.size() == 0);
  CHECK_FALSE(kept.add(8, "a.txt", kHex));  // emptied: a new start
}
