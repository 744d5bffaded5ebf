// SPDX-License-Identifier: MIT
#include "daemon/disk/local_tree.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

TEST_CASE("a partial file replaced after it was verified is not published", "[local_tree]") {
  Sandbox sandbox;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  write_partial(*tree, "a.txt", "verified bytes");
  auto verified = tree->open_partial("a.txt");  // what was hashed
  REQUIRE(verified);
  // Another file takes the partial name (whatever put it there): its bytes were never checked.
  const auto partial = sandbox / "dest/.pnsync-partial" / tree->partial_name("a.txt");
  std::filesystem::remove(partial);
  pnsync::test::write_file(partial, "other bytes");
  const auto published = tree->publish("a.txt", verified->get(), std::nullopt);
  REQUIRE_FALSE(published);
  CHECK_THAT(published.error().message,
             Catch::Matchers::Contains("is no longer the file that was verified"));
  CHECK_FALSE(std::filesystem::exists(sandbox / "dest/a.txt"));
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

namespace {

mode_t mode_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

gid_t group_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info.st_gid;
}

// A group to hand files to that the test process is not in by default.
std::optional<gid_t> daemon_gid() {
  if (const struct group* found = ::getgrnam("daemon")) return found->gr_gid;
  return std::nullopt;
}

}  // namespace

TEST_CASE("file_mode, dir_mode and group apply to everything the tree creates, whatever the umask",
          "[local_tree]") {
  const auto gid = daemon_gid();
  REQUIRE(gid);  // Debian's base-passwd always has it
  REQUIRE(*gid != ::getegid());
  Sandbox sandbox;
  const mode_t old_umask = ::umask(077);
  TreeSettings settings;
  settings.file_mode = 0604;
  settings.dir_mode = 02755;
  settings.group = "daemon";
  auto tree = LocalTree::open(sandbox / "new/dest", settings);
  REQUIRE(tree);
  write_partial(*tree, "files/p10/a.dcm", "hello");
  auto fd = tree->open_partial("files/p10/a.dcm");
  REQUIRE(fd);
  REQUIRE(tree->publish("files/p10/a.dcm", fd->get(), std::nullopt));
  ::umask(old_umask);

  for (const char* dir : {"new", "new/dest", "new/dest/files", "new/dest/files/p10"}) {
    INFO(dir);
    CHECK(mode_of(sandbox / dir) == 02755);
    CHECK(group_of(sandbox / dir) == *gid);
  }
  CHECK(mode_of(sandbox / "new/dest/files/p10/a.dcm") == 0604);
  CHECK(group_of(sandbox / "new/dest/files/p10/a.dcm") == *gid);
  // The partial directory stays private whatever dir_mode says.
  CHECK(mode_of(sandbox / "new/dest/.pnsync-partial") == 0700);
}

TEST_CASE("a group that does not exist is an error naming it", "[local_tree]") {
  Sandbox sandbox;
  TreeSettings settings;
  settings.group = "pnsync-no-such-group";
  auto tree = LocalTree::open(sandbox / "dest", settings);
  REQUIRE_FALSE(tree);
  CHECK(tree.error().message == "group: \"pnsync-no-such-group\" does not exist");
  CHECK_FALSE(std::filesystem::exists(sandbox / "dest"));
}

TEST_CASE("tree_settings takes file_mode, dir_mode and group from the configuration",
          "[local_tree]") {
  config::Config config;
  CHECK(tree_settings(config).file_mode == 0640);
  CHECK(tree_settings(config).dir_mode == 02750);
  CHECK_FALSE(tree_settings(config).group);
  config.file_mode = 0644;
  config.dir_mode = 0755;
  config.group = "physionet";
  const TreeSettings settings = tree_settings(config);
  CHECK(settings.file_mode == 0644);
  CHECK(settings.dir_mode == 0755);
  CHECK(settings.group == "physionet");
}

TEST_CASE(
    "a batch of placements shares one sync per directory, and new directories sync their "
    "parent",
    "[local_tree]") {
  Sandbox sandbox;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  DirtyDirs dirty;
  for (const char* rel : {"files/p10/s1/a", "files/p10/s1/b", "files/p10/s2/a", "top.txt"}) {
    write_partial(*tree, rel, rel);
    auto fd = tree->open_partial(rel);
    REQUIRE(fd);
    REQUIRE(tree->seal(rel, fd->get(), std::nullopt));
    REQUIRE(tree->place(rel, fd->get(), dirty));
  }
  std::vector<std::string> names;
  for (const auto& [name, fd] : dirty.entries()) {
    names.push_back(name);
    CHECK(fd);
    CHECK(tree->sync_dir(name, fd.get()));
  }
  // "" and "files/" and "files/p10/" got new subdirectories; s1 and s2 got files; dest got
  // top.txt too, but only one entry per directory.
  std::sort(names.begin(), names.end());
  CHECK(names ==
        std::vector<std::string>{"", "files/", "files/p10/", "files/p10/s1/", "files/p10/s2/"});
  CHECK(pnsync::test::read_file(sandbox / "dest/files/p10/s2/a") == "files/p10/s2/a");
}
