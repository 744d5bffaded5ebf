// SPDX-License-Identifier: MIT
// SHA256SUMS.txt on disk: written chunk by chunk while it downloads, read back in bounded chunks.
#include "daemon/listing/manifest_file.hpp"

#include <fcntl.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::read_file;
using pnsync::test::Sandbox;
using pnsync::test::sha256_hex;

namespace {

std::string partial_path(const LocalTree& tree) {
  return (tree.root() / kPartialDirName / tree.partial_name(kManifestName)).string();
}

// Every entry of `text`, read back through read_manifest_file, as "sha path" lines.
std::vector<std::string> read_back(int fd, std::size_t* problems = nullptr) {
  std::vector<std::string> lines;
  ManifestParser parser(
      [&](std::size_t, std::string_view path, std::string_view sha256) {
        lines.push_back(std::string(sha256) + " " + std::string(path));
      },
      [&](const std::string&) {
        if (problems) ++*problems;
      });
  REQUIRE(read_manifest_file(fd, parser, "SHA256SUMS.txt"));
  return lines;
}

}  // namespace

TEST_CASE("a manifest download writes, hashes and counts every chunk", "[manifest_file]") {
  Sandbox sandbox;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  // An earlier attempt left part of a body: the new download starts from nothing.
  test::write_file(partial_path(*tree), "stale bytes of an earlier attempt");
  auto download = ManifestDownload::start(*tree, 1 << 20);
  REQUIRE(download);
  std::string all;
  for (int i = 0; i < 100; ++i) {
    const std::string chunk =
        std::string(64, static_cast<char>('a' + i % 6)) + " f" + std::to_string(i) + ".txt\n";
    REQUIRE(download->append(chunk));
    all += chunk;
  }
  CHECK(download->size() == static_cast<std::int64_t>(all.size()));
  CHECK(download->sha256_hex() == sha256_hex(all));
  CHECK(read_file(partial_path(*tree)) == all);
  const UniqueFd file = download->release_file();
  const auto lines = read_back(file.get());
  CHECK(lines.size() == 100);
  CHECK(lines.back() == std::string(64, 'd') + " f99.txt");
  CHECK_FALSE(download->append("more"));  // released: nothing more goes in
}

TEST_CASE("a manifest download stops at its size limit", "[manifest_file]") {
  Sandbox sandbox;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  auto download = ManifestDownload::start(*tree, 10);
  REQUIRE(download);
  CHECK(download->append("0123456789"));  // exactly the limit
  CHECK_FALSE(download->too_large());
  CHECK_FALSE(download->append("x"));
  CHECK(download->too_large());
  CHECK_FALSE(download->error());
  CHECK(download->size() == 10);
}

TEST_CASE("read_manifest_file reads a manifest larger than its chunk, lines cut anywhere",
          "[manifest_file]") {
  Sandbox sandbox;
  std::string text;
  std::vector<std::string> expected;
  for (int i = 0; text.size() < 3 * kManifestReadChunk + 1000; ++i) {
    const std::string path =
        "files/p1" + std::to_string(i % 10) + "/s" + std::to_string(i) + ".txt";
    const std::string sha = sha256_hex(path);
    text += sha + " " + path + (i % 3 ? "\n" : "\r\n");
    expected.push_back(sha + " " + path);
  }
  text += "not a line";  // a last line without a line end still counts
  test::write_file(sandbox / "SHA256SUMS.txt", text);
  const UniqueFd fd(::open((sandbox / "SHA256SUMS.txt").c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  std::size_t problems = 0;
  CHECK(read_back(fd.get(), &problems) == expected);
  CHECK(problems == 1);
  // pread: a second read gives the same, from the first byte.
  CHECK(read_back(fd.get()) == expected);
}

TEST_CASE("open_published_manifest opens only a copy of the size the store describes",
          "[manifest_file]") {
  Sandbox sandbox;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  const std::string text = std::string(64, 'a') + " LICENSE.txt\n";
  const auto size = static_cast<std::int64_t>(text.size());
  const std::string file = (tree->root() / kManifestName).string();
  test::write_file(file, text);

  SECTION("the recorded size: open, read from its first byte") {
    auto opened = open_published_manifest(*tree, size);
    REQUIRE(opened);
    CHECK(read_back(opened->get()) ==
          std::vector<std::string>{std::string(64, 'a') + " LICENSE.txt"});
  }
  // Same size, other bytes: opened all the same; the caller hashes it off the event loop
  // (manifest_conditional_test.cpp: "a local SHA256SUMS.txt with other bytes...").
  SECTION("another size") {
    auto opened = open_published_manifest(*tree, size + 1);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().kind == ErrorKind::Integrity);
    CHECK(opened.error().message == file + ": " + std::to_string(size) + " bytes, not the " +
                                        std::to_string(size + 1) + " recorded");
  }
  SECTION("a directory in its place") {
    std::filesystem::remove(file);
    std::filesystem::create_directory(file);
    auto opened = open_published_manifest(*tree, size);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().message == file + ": not a regular file");
  }
  SECTION("gone") {
    std::filesystem::remove(file);
    auto opened = open_published_manifest(*tree, size);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().kind == ErrorKind::LocalStorage);
    CHECK_THAT(opened.error().message, Catch::Contains(file));
  }
}
