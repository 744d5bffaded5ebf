// SPDX-License-Identifier: MIT
#include "daemon/local_tree.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::Sandbox;

namespace {

void write_partial(const LocalTree& tree, const std::string& rel, const std::string& content) {
  auto fd = tree.open_partial(rel);
  REQUIRE(fd);
  REQUIRE(::write(fd->get(), content.data(), content.size()) ==
          static_cast<ssize_t>(content.size()));
}

}  // namespace

TEST_CASE("publish moves a partial file into place with closed permissions and the server's mtime",
          "[local_tree]") {
  Sandbox sandbox;
  ::umask(0);  // the modes must not depend on the umask
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  write_partial(*tree, "files/p10/a.dcm", "hello");
  CHECK_FALSE(std::filesystem::exists(sandbox / "dest/files/p10/a.dcm"));
  auto fd = tree->open_partial("files/p10/a.dcm");
  REQUIRE(fd);
  REQUIRE(tree->publish("files/p10/a.dcm", fd->get(), 1'000'000'000));
  ::umask(022);
  struct stat info {};
  REQUIRE(::stat((sandbox / "dest/files/p10/a.dcm").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0640);
  CHECK(info.st_mtime == 1'000'000'000);
  REQUIRE(::stat((sandbox / "dest/files/p10").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 02750);
  CHECK(pnsync::test::read_file(sandbox / "dest/files/p10/a.dcm") == "hello");
  CHECK(std::filesystem::is_empty(sandbox / "dest/.pnsync-partial"));
}

TEST_CASE("a symlink inside dest is never followed", "[local_tree]") {
  Sandbox sandbox;
  std::filesystem::create_directories(sandbox / "outside");
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  std::filesystem::create_directory_symlink(sandbox / "outside", sandbox / "dest/files");
  write_partial(*tree, "files/x.txt", "data");
  auto fd = tree->open_partial("files/x.txt");
  REQUIRE(fd);
  auto published = tree->publish("files/x.txt", fd->get(), std::nullopt);
  REQUIRE_FALSE(published);
  CHECK(published.error().message.find((sandbox / "dest/files/").string()) != std::string::npos);
  CHECK(std::filesystem::is_empty(sandbox / "outside"));

  // A symlink in the final file's place is not opened either.
  std::filesystem::create_symlink("/etc/passwd", sandbox / "dest/passwd");
  CHECK_FALSE(tree->open_final("passwd"));
}

TEST_CASE("stat_final tells a missing file from an error", "[local_tree]") {
  Sandbox sandbox;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  auto missing = tree->stat_final("files/none/x");
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());
}

TEST_CASE("partial names are fixed-length and never the server's name", "[local_tree]") {
  Sandbox sandbox;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  const auto name = tree->partial_name("files/p10/../../../etc/passwd");
  CHECK(name.size() == 45);
  CHECK(name.find('/') == std::string::npos);
  CHECK(name != tree->partial_name("files/p10/b"));
}

TEST_CASE("dest and its missing parents are created closed, an existing dest keeps its mode",
          "[local_tree]") {
  Sandbox sandbox;
  REQUIRE(LocalTree::open(sandbox / "a/b/dest"));
  struct stat info {};
  for (const char* dir : {"a", "a/b", "a/b/dest"}) {
    REQUIRE(::stat((sandbox / dir).c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 02750);
  }
  std::filesystem::create_directories(sandbox / "open");
  ::chmod((sandbox / "open").c_str(), 0755);
  REQUIRE(LocalTree::open(sandbox / "open"));
  REQUIRE(::stat((sandbox / "open").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0755);
}
