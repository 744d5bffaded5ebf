// SPDX-License-Identifier: MIT
#include "tests/support/sandbox.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

namespace fs = std::filesystem;
using namespace pnsync::test;

TEST_CASE("a sandbox is a fresh directory, removed afterwards", "[sandbox]") {
  fs::path where;
  {
    Sandbox a;
    Sandbox b;
    where = a.path();
    CHECK(fs::is_directory(a.path()));
    CHECK(a.path() != b.path());
    CHECK(fs::is_empty(a.path()));
    CHECK(a / "x" == a.path() / "x");
    write_file(a / "deep/er/file.txt", "x");
    fs::create_directories(a / "locked/inner");
    fs::permissions(a / "locked", fs::perms::owner_read | fs::perms::owner_exec);  // not writable
  }
  CHECK_FALSE(fs::exists(where));
}

TEST_CASE("PNSYNC_KEEP_SANDBOX keeps the directory", "[sandbox]") {
  fs::path where;
  ::setenv("PNSYNC_KEEP_SANDBOX", "1", 1);
  {
    Sandbox kept;
    where = kept.path();
  }
  ::unsetenv("PNSYNC_KEEP_SANDBOX");
  CHECK(fs::is_directory(where));
  fs::remove_all(where);
}

TEST_CASE_METHOD(Sandbox, "write_file and read_file round-trip binary content", "[sandbox]") {
  const std::string content("a\0b\r\n\xff", 6);
  write_file(path() / "p/q/r.bin", content);
  CHECK(read_file(path() / "p/q/r.bin") == content);
  write_file(path() / "p/q/r.bin", "shorter");
  CHECK(read_file(path() / "p/q/r.bin") == "shorter");
  CHECK_THROWS(read_file(path() / "missing"));
}

TEST_CASE_METHOD(Sandbox, "random bytes are deterministic per seed", "[sandbox]") {
  CHECK(random_bytes(1000, 1) == random_bytes(1000, 1));
  CHECK(random_bytes(1000, 1) != random_bytes(1000, 2));
  CHECK(random_bytes(10, 1) == random_bytes(1000, 1).substr(0, 10));
  // Pinned, so that a golden file made from random_bytes stays valid across changes.
  CHECK(sha256_hex(random_bytes(1000, 1)) ==
        "a813ece908dffccfe2d9fe39f091f2f5ffe0f1f50b603e0087f315718e66f8c7");
  // The streamed form writes the very same bytes, whatever the size.
  write_random_file(path() / "r.bin", 3 * 1024 * 1024 + 5, 9);
  CHECK(read_file(path() / "r.bin") == random_bytes(3 * 1024 * 1024 + 5, 9));
}

TEST_CASE_METHOD(Sandbox, "SHA-256 in hex", "[sandbox]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  write_file(path() / "abc", "abc");
  CHECK(sha256_file_hex(path() / "abc") == sha256_hex("abc"));
}

TEST_CASE_METHOD(Sandbox, "trees_equal compares paths and bytes", "[sandbox]") {
  for (const char* side : {"a", "b"}) {
    write_file(path() / side / "top.txt", "top");
    write_file(path() / side / "d/e/f.bin", random_bytes(70000, 3));
    fs::create_directories(path() / side / "empty");
  }
  std::string why;
  CHECK(trees_equal(path() / "a", path() / "b", &why));
  CHECK(why.empty());

  SECTION("different content") {
    write_file(path() / "b/d/e/f.bin", random_bytes(70000, 4));
    CHECK_FALSE(trees_equal(path() / "a", path() / "b", &why));
    CHECK(why == "content differs: d/e/f.bin");
  }
  SECTION("an extra file") {
    write_file(path() / "a/d/extra", "");
    CHECK_FALSE(trees_equal(path() / "a", path() / "b", &why));
    CHECK(why == "only in " + (path() / "a").string() + ": d/extra");
  }
  SECTION("a missing directory") {
    fs::remove(path() / "b/empty");
    CHECK_FALSE(trees_equal(path() / "a", path() / "b", &why));
    CHECK(why == "only in " + (path() / "a").string() + ": empty");
  }
  SECTION("a file where a directory was") {
    fs::remove(path() / "b/empty");
    write_file(path() / "b/empty", "");
    CHECK_FALSE(trees_equal(path() / "a", path() / "b", &why));
    CHECK(why == "type differs: empty");
  }
  SECTION("the ignored top-level entry") {
    write_file(path() / "b/.pnsync-partial/x.part", "partial");
    CHECK_FALSE(trees_equal(path() / "a", path() / "b", nullptr));
    CHECK(trees_equal(path() / "a", path() / "b", &why, ".pnsync-partial"));
    write_file(path() / "b/d/.pnsync-partial", "not top-level");
    CHECK_FALSE(trees_equal(path() / "a", path() / "b", &why, ".pnsync-partial"));
  }
}
