// SPDX-License-Identifier: MIT
// Dataset-sized batches (PhysioNet versions reach hundreds of thousands of files) and what a
// kill -9 in the middle of one leaves behind.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "tests/store/store_helpers.hpp"

using pnsync::store::DiscoveredFile;
using pnsync::store::FileState;
using pnsync::store::Store;
using pnsync::store::VerifiedFile;
using pnsync::store::VerifyKind;
using pnsync::store::test::DbSandbox;
using Clock = std::chrono::steady_clock;

namespace {

// Paths shaped like a large PhysioNet dataset: p00/p000123/s4500123/0001.dat, 20 files per
// directory, each with a size, a hash and an mtime.
std::vector<DiscoveredFile> dataset(std::size_t n) {
  std::vector<DiscoveredFile> files;
  files.reserve(n);
  char path[64];
  char hash[65];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(path, sizeof path, "p%02zu/p%06zu/s%07zu/%04zu.dat", i / 100000 % 100, i / 1000,
                  i / 20, i % 20);
    std::snprintf(hash, sizeof hash, "%064zx", i * 2654435761u);
    files.push_back({path, static_cast<std::int64_t>(1000 + i % 5000), std::string(hash),
                     static_cast<std::int64_t>(1600000000 + i)});
  }
  return files;
}

// Wall-clock and CPU time of this process, since the machine running the tests may be busy.
struct Stopwatch {
  Clock::time_point wall = Clock::now();
  std::clock_t cpu = std::clock();
  std::string lap() {
    const double w = std::chrono::duration<double>(Clock::now() - wall).count();
    const double c = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
    wall = Clock::now();
    cpu = std::clock();
    char out[64];
    std::snprintf(out, sizeof out, "%.2f s (cpu %.2f s)", w, c);
    last = w;
    return out;
  }
  double last = 0;
};

}  // namespace

TEST_CASE("a batch of 20,000 files goes in, and back in, in one transaction each",
          "[store][batch]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mimic-iv-ecg/1.0", "/srv/mimic");
  const auto files = dataset(20000);
  std::int64_t bytes = 0;
  for (const auto& f : files) bytes += *f.size;

  store.upsert_files(m, files);
  auto c = store.counts(m);
  CHECK(c.files_total == 20000);
  CHECK(c.bytes_total == bytes);
  CHECK(store.unfinished_files(m).size() == 20000);

  std::vector<VerifiedFile> verified;
  for (const auto& f : store.unfinished_files(m)) {
    verified.push_back({f.id, *f.size, *f.expected_sha256, VerifyKind::Sha256Manifest});
  }
  store.mark_verified(verified);

  // A second crawl that finds nothing new changes nothing.
  store.upsert_files(m, files);
  c = store.counts(m);
  CHECK(c.files_total == 20000);
  CHECK(c.files_verified == 20000);
  CHECK(c.bytes_verified == bytes);
  CHECK(store.unfinished_files(m).empty());
}

// Run with: tests_store "[.slow]" -s   (prints the timings)
TEST_CASE("600,000 files load in a few seconds", "[store][batch][.slow]") {
  DbSandbox tmp;
  Store store(tmp.db());
  const auto m = store.ensure_mirror("mimic-iv-ecg/1.0", "/srv/mimic");
  const auto files = dataset(600000);

  Stopwatch watch;
  store.upsert_files(m, files);
  const std::string insert = watch.lap();
  const double insert_s = watch.last;
  const auto mib = [](const std::filesystem::path& p) {
    return std::to_string(std::filesystem::file_size(p) >> 20) + " MiB";
  };
  const std::string sizes =
      "db " + mib(tmp.db()) + ", wal " + mib(tmp.db().string() + "-wal") + " after first batch";

  store.upsert_files(m, files);
  const std::string again = watch.lap();
  const double again_s = watch.last;

  const auto c = store.counts(m);
  const std::string count = watch.lap();

  const auto todo = store.unfinished_files(m);
  const std::string list = watch.lap();

  std::vector<VerifiedFile> verified;
  verified.reserve(todo.size());
  for (const auto& f : todo) {
    verified.push_back({f.id, *f.size, *f.expected_sha256, VerifyKind::Sha256Manifest});
  }
  watch.lap();
  store.mark_verified(verified);
  const std::string verify = watch.lap();
  const double verify_s = watch.last;

  WARN("600,000 files:"
       << "\n  upsert_files (new)       " << insert << "\n  upsert_files (unchanged) " << again
       << "\n  counts                   " << count << "\n  unfinished_files         " << list
       << "\n  mark_verified            " << verify << "\n  " << sizes);
  CHECK(c.files_total == 600000);
  CHECK(todo.size() == 600000);
  CHECK(store.counts(m).files_verified == 600000);
  // Generous bounds (Debug build, shared machine); the point is "seconds, not minutes".
  CHECK(insert_s < 20);
  CHECK(again_s < 20);
  CHECK(verify_s < 20);
}

// The child opens the Store, reports on a pipe, writes one big batch, reports again and waits to
// be killed. Whenever SIGKILL lands, the next open must find the batch entirely or not at all.
TEST_CASE("kill -9 during or after a batch leaves all of it or none",
          "[store][batch][durability]") {
  const auto after = GENERATE(as<std::chrono::milliseconds>{}, 0, 20, 80, -1);  // -1: after commit
  constexpr std::size_t kFiles = 100000;
  DbSandbox tmp;
  { Store(tmp.db()).ensure_mirror("big/1.0", "/srv/big"); }
  const auto files = dataset(kFiles);

  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(ready[0]);
    try {
      Store store(tmp.db());
      const auto m = store.ensure_mirror("big/1.0", "/srv/big");
      if (write(ready[1], "s", 1) != 1) _exit(2);
      store.upsert_files(m, files);
      if (write(ready[1], "c", 1) != 1) _exit(2);
      pause();
    } catch (...) {
    }
    _exit(1);  // no destructors, no Catch2 teardown in the child
  }
  close(ready[1]);
  char byte = 0;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  REQUIRE(byte == 's');
  if (after.count() < 0) {
    REQUIRE(read(ready[0], &byte, 1) == 1);
    REQUIRE(byte == 'c');
  } else {
    std::this_thread::sleep_for(after);
  }
  kill(child, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  // Did the child report its commit before it died? (EOF otherwise: its end of the pipe closed.)
  const bool committed = after.count() < 0 || read(ready[0], &byte, 1) == 1;
  close(ready[0]);

  Store store(tmp.db());
  CHECK(store.integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
  const auto total = store.counts(1).files_total;
  INFO("killed " << (after.count() < 0 ? "after commit" : std::to_string(after.count()) + " ms in")
                 << "; child reported commit: " << committed);
  if (committed) {
    CHECK(total == static_cast<std::int64_t>(kFiles));
  } else {
    CHECK((total == 0 || total == static_cast<std::int64_t>(kFiles)));
  }
  if (total == static_cast<std::int64_t>(kFiles)) {
    CHECK(store.find_file(1, files.back().path)->state == FileState::Pending);
  }
}
