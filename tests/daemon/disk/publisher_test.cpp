// SPDX-License-Identifier: MIT
#include "daemon/disk/publisher.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::Sandbox;

namespace {

using namespace std::chrono_literals;

// Records every step in the order the publisher's threads ran them, fails the steps it is told
// to, and can hold the first placement until the test opens the gate (so that the files sealed
// meanwhile form one batch).
class RecordingSteps final : public PublishSteps {
public:
  Result<void> seal(std::string_view rel, int, std::optional<std::int64_t>) const override {
    std::lock_guard lock(mutex_);
    calls_.push_back("seal " + std::string(rel));
    ++sealed_;
    changed_.notify_all();
    if (auto failing = fail_seal_.find(std::string(rel)); failing != fail_seal_.end())
      return local_error("cannot sync", "/dest/" + std::string(rel), failing->second);
    return {};
  }
  Result<void> place(std::string_view rel, int /*partial_fd*/, DirtyDirs& dirty) const override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return gate_open_; });
    calls_.push_back("place " + std::string(rel));
    dirty.add(std::string(parent_name(rel)), UniqueFd());
    return {};
  }
  Result<void> sync_dir(const std::string& name, int) const override {
    std::lock_guard lock(mutex_);
    calls_.push_back("sync " + name);
    if (fail_sync_.contains(name))
      return local_error("cannot sync directory", "/dest/" + name, EIO);
    return {};
  }

  void fail_seal(const std::string& rel, int errno_value) { fail_seal_[rel] = errno_value; }
  void fail_sync(const std::string& dir) { fail_sync_.insert(dir); }
  void close_gate() { gate_open_ = false; }
  void open_gate() {
    std::lock_guard lock(mutex_);
    gate_open_ = true;
    changed_.notify_all();
  }
  void wait_sealed(std::size_t count) const {
    std::unique_lock lock(mutex_);
    REQUIRE(changed_.wait_for(lock, 10s, [&] { return sealed_ >= count; }));
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  mutable std::vector<std::string> calls_;
  mutable std::size_t sealed_ = 0;
  bool gate_open_ = true;
  std::map<std::string, int> fail_seal_;
  std::set<std::string> fail_sync_;
};

std::size_t index_of(const std::vector<std::string>& calls, const std::string& call,
                     std::size_t from = 0) {
  auto found = std::find(calls.begin() + static_cast<long>(from), calls.end(), call);
  return static_cast<std::size_t>(found - calls.begin());
}

// Runs the loop until `done` holds (or ten seconds pass).
template <typename Pred>
void run_until(boost::asio::io_context& io, Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(10ms);
  }
  REQUIRE(done());
}

}  // namespace

TEST_CASE("the publisher syncs each file, renames it, syncs its directory, and only then reports",
          "[publisher]") {
  boost::asio::io_context io;
  RecordingSteps steps;
  steps.close_gate();
  Publisher publisher(io, steps, {.sealers = 2});
  const std::vector<std::string> files = {"files/p10/s1/a.dcm", "files/p10/s1/b.dcm",
                                          "files/p10/s1/c.txt", "files/p10/s2/a.dcm",
                                          "files/p10/s2/b.dcm", "files/p10/s2/c.txt"};
  std::map<std::string, bool> results;
  std::vector<PublishTicket> tickets;
  tickets.reserve(files.size());
  for (const auto& rel : files) {
    tickets.push_back(
        publisher.publish({rel, UniqueFd(), std::nullopt}, [&, rel](const Result<void>& r) {
          // Every step of this file is recorded by now.
          const auto calls = steps.calls();
          const auto placed = index_of(calls, "place " + rel);
          CHECK(index_of(calls, "seal " + rel) < placed);
          CHECK(index_of(calls, "sync " + std::string(parent_name(rel)), placed) < calls.size());
          results[rel] = r.ok();
        }));
  }
  // The loop has not run: nothing is reported from inside publish().
  CHECK(results.empty());
  // Every file sealed while the commit thread holds (at most) the first one: a batch forms.
  steps.wait_sealed(files.size());
  steps.open_gate();
  run_until(io, [&] { return results.size() == files.size(); });
  for (const auto& [rel, ok] : results) CHECK(ok);

  const auto calls = steps.calls();
  const auto syncs = std::count_if(calls.begin(), calls.end(),
                                   [](const auto& call) { return call.starts_with("sync "); });
  // One fsync per directory per batch instead of one per file: at most two batches of two
  // directories here.
  CHECK(syncs <= 4);
  CHECK(syncs < static_cast<long>(files.size()));
}

TEST_CASE("the publisher counts the files whose completion has not run yet", "[publisher]") {
  // The mirror job lets a file waiting for the disk give up its transfer slot while this count
  // is small (kPublishAhead), so the count must not miss files still on the threads.
  boost::asio::io_context io;
  RecordingSteps steps;
  steps.close_gate();
  Publisher publisher(io, steps, {.sealers = 1});
  int completed = 0;
  std::vector<PublishTicket> tickets;
  for (const char* rel : {"a/1", "a/2", "b/3"})
    tickets.push_back(publisher.publish({rel, UniqueFd(), std::nullopt},
                                        [&](const Result<void>&) { ++completed; }));
  CHECK(publisher.in_flight() == 3);
  steps.wait_sealed(3);
  CHECK(publisher.in_flight() == 3);  // sealed, not yet placed: still waiting for the disk
  tickets.pop_back();                 // a dropped ticket: nobody waits for that one any more
  CHECK(publisher.in_flight() == 2);
  steps.open_gate();
  run_until(io, [&] { return completed == 2; });
  CHECK(publisher.in_flight() == 0);
}

TEST_CASE("a failing step is reported for that file only, with its path and errno", "[publisher]") {
  boost::asio::io_context io;
  RecordingSteps steps;
  steps.fail_seal("files/full.dcm", ENOSPC);
  steps.fail_sync("files/bad/");
  Publisher publisher(io, steps);
  std::map<std::string, Result<void>> results;
  std::vector<PublishTicket> tickets;
  for (const std::string rel : {"files/full.dcm", "files/ok.dcm", "files/bad/x.dcm"}) {
    tickets.push_back(publisher.publish({rel, UniqueFd(), std::nullopt},
                                        [&, rel](Result<void> r) { results.emplace(rel, r); }));
  }
  run_until(io, [&] { return results.size() == 3; });

  const auto& full = results.at("files/full.dcm");
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().errno_value == ENOSPC);
  CHECK(full.error().message == "cannot sync /dest/files/full.dcm: No space left on device");
  // A file that could not be synced is never renamed into place.
  CHECK(index_of(steps.calls(), "place files/full.dcm") == steps.calls().size());

  CHECK(results.at("files/ok.dcm").ok());

  const auto& unsynced = results.at("files/bad/x.dcm");
  REQUIRE_FALSE(unsynced.ok());
  CHECK(unsynced.error().errno_value == EIO);
  CHECK(unsynced.error().message.find("/dest/files/bad/") != std::string::npos);
}

TEST_CASE(
    "a dropped ticket's completion never runs, and a stopped publisher reports what it "
    "did not do",
    "[publisher]") {
  boost::asio::io_context io;
  RecordingSteps steps;
  steps.close_gate();
  Publisher publisher(io, steps, {.sealers = 1});
  int dropped_calls = 0;
  std::optional<Result<void>> kept;
  {
    auto dropped = publisher.publish({"a/dropped", UniqueFd(), std::nullopt},
                                     [&](const Result<void>&) { ++dropped_calls; });
  }
  auto ticket = publisher.publish({"a/kept", UniqueFd(), std::nullopt},
                                  [&](Result<void> r) { kept = std::move(r); });
  steps.wait_sealed(2);
  // The commit thread holds "a/dropped" (or both) at the gate; stop() waits for that commit.
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms);
    steps.open_gate();
  });
  publisher.stop();
  opener.join();
  run_until(io, [&] { return kept.has_value(); });
  CHECK(dropped_calls == 0);
  // Either published in the commit that was running, or reported as not done: never lost.
  if (!kept->ok()) {
    CHECK(kept->error().errno_value == ECANCELED);
    CHECK(kept->error().message.find("a/kept") != std::string::npos);
  }
  // After stop(), new files are reported as not done, later, on the loop.
  std::optional<Result<void>> late;
  auto late_ticket = publisher.publish({"a/late", UniqueFd(), std::nullopt},
                                       [&](Result<void> r) { late = std::move(r); });
  CHECK_FALSE(late.has_value());
  run_until(io, [&] { return late.has_value(); });
  CHECK(late->error().errno_value == ECANCELED);
}

TEST_CASE("a publisher destroyed with files in flight calls nobody back", "[publisher]") {
  boost::asio::io_context io;
  RecordingSteps steps;
  int calls = 0;
  std::vector<PublishTicket> tickets;
  {
    Publisher publisher(io, steps);
    for (int i = 0; i < 50; ++i)
      tickets.push_back(publisher.publish({"d/" + std::to_string(i), UniqueFd(), std::nullopt},
                                          [&](const Result<void>&) { ++calls; }));
  }
  io.run();  // handlers posted before the destruction find the publisher gone
  CHECK(calls == 0);
  tickets.clear();  // tickets outliving their publisher are harmless
}

TEST_CASE("published files land in the real tree, durable, with their modes", "[publisher]") {
  Sandbox sandbox;
  boost::asio::io_context io;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  Publisher publisher(io, *tree);
  std::map<std::string, Result<void>> results;
  std::vector<PublishTicket> tickets;
  for (int i = 0; i < 30; ++i) {
    const std::string rel = "files/p1" + std::to_string(i % 3) + "/s" + std::to_string(i % 5) +
                            "/f" + std::to_string(i) + ".dcm";
    auto fd = tree->open_partial(rel);
    REQUIRE(fd);
    REQUIRE(::write(fd->get(), rel.data(), rel.size()) == static_cast<ssize_t>(rel.size()));
    tickets.push_back(publisher.publish({rel, std::move(*fd), 1'500'000'000},
                                        [&, rel](Result<void> r) { results.emplace(rel, r); }));
  }
  run_until(io, [&] { return results.size() == 30; });
  for (const auto& [rel, result] : results) {
    INFO(rel);
    REQUIRE(result.ok());
    CHECK(pnsync::test::read_file(sandbox / "dest" / rel) == rel);
    struct stat info {};
    REQUIRE(::stat((sandbox / "dest" / rel).c_str(), &info) == 0);
    CHECK((info.st_mode & 07777) == 0640);
    CHECK(info.st_mtime == 1'500'000'000);
  }
  CHECK(std::filesystem::is_empty(sandbox / "dest/.pnsync-partial"));
}

TEST_CASE("a publishing error from the real tree names the path", "[publisher]") {
  Sandbox sandbox;
  boost::asio::io_context io;
  auto tree = LocalTree::open(sandbox / "dest");
  REQUIRE(tree);
  pnsync::test::write_file(sandbox / "dest/files", "a file where a directory must go");
  Publisher publisher(io, *tree);
  auto fd = tree->open_partial("files/x.dcm");
  REQUIRE(fd);
  std::optional<Result<void>> result;
  auto ticket = publisher.publish({"files/x.dcm", std::move(*fd), std::nullopt},
                                  [&](Result<void> r) { result = std::move(r); });
  run_until(io, [&] { return result.has_value(); });
  REQUIRE_FALSE(result->ok());
  CHECK(result->error().errno_value == ENOTDIR);
  CHECK(result->error().message.find((sandbox / "dest/files/").string()) != std::string::npos);
}
