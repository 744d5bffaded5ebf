// SPDX-License-Identifier: MIT
// A fresh temporary directory per test, removed afterwards, plus helpers to fill and compare trees.
// Use it as a Catch2 fixture directly: TEST_CASE_METHOD(pnsync::test::Sandbox, "...").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync::test {

class Sandbox {
public:
  Sandbox();   // mkdtemp under $TMPDIR or /tmp
  ~Sandbox();  // rm -rf unless PNSYNC_KEEP_SANDBOX is set (then prints where it is)
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view rel) const { return path_ / rel; }

private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& file, std::string_view content);  // creates parents
std::string read_file(const std::filesystem::path& file);
// Deterministic pseudo-random bytes of the given size (seeded by `seed`).
std::string random_bytes(std::size_t size, std::uint64_t seed);
// The same bytes as random_bytes(size, seed), streamed to `file` (creates parents): for large
// files that should not sit in memory.
void write_random_file(const std::filesystem::path& file, std::uint64_t size, std::uint64_t seed);
std::string sha256_hex(std::string_view data);
std::string sha256_file_hex(const std::filesystem::path& file);  // streamed
// True when both trees hold the same relative paths with identical bytes; `ignore` names a
// top-level entry to skip (e.g. ".pnsync-partial"). On a difference, `why` says which path.
bool trees_equal(const std::filesystem::path& a, const std::filesystem::path& b, std::string* why,
                 std::string_view ignore = {});
// The partial (.part) files in dest's work area: what an interrupted transfer leaves behind. The
// work area's other entry, the mirror's marker (daemon/plan/dest_guard.hpp), is not one of them.
std::vector<std::string> partial_files(const std::filesystem::path& dest);

}  // namespace pnsync::test
