// SPDX-License-Identifier: MIT
#include "daemon/disk/hash_worker.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <optional>
#include <thread>

#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::Sandbox;

namespace {

UniqueFd open_read(const std::filesystem::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  return fd;
}

struct Outcome {
  std::optional<std::string> digest;  // set when the read succeeded
  std::string error;
  std::thread::id thread;
};

}  // namespace

TEST_CASE(
    "hash worker: consecutive ranges chain into the hash of the whole file, off the caller's "
    "thread, with completions on the io_context") {
  Sandbox box;
  const std::string bytes = test::random_bytes(3 << 20, 7);
  test::write_file(box / "file", bytes);
  boost::asio::io_context io;
  HashWorker worker(io);
  std::vector<std::thread::id> completed_on;
  std::optional<std::string> digest;

  // Three jobs, each handing its hasher to the next, as transfer_ranges.cpp does.
  const std::int64_t step = 1 << 20;
  std::function<void(std::int64_t, Sha256)> next = [&](std::int64_t from, Sha256 hasher) {
    UniqueFd fd = open_read(box / "file");
    worker.hash({std::move(fd), from, step, std::move(hasher), "file"},
                [&, from](Sha256 fed, const Result<void>& read) {
                  REQUIRE(read);
                  completed_on.push_back(std::this_thread::get_id());
                  if (from + step < static_cast<std::int64_t>(bytes.size())) {
                    next(from + step, std::move(fed));
                  } else {
                    digest = fed.finish_hex();
                  }
                });
  };
  next(0, Sha256());
  io.run();

  REQUIRE(digest);
  CHECK(*digest == test::sha256_hex(bytes));
  REQUIRE(completed_on.size() == 3);
  for (const auto& id : completed_on) CHECK(id == std::this_thread::get_id());
}

TEST_CASE(
    "hash worker: the job reads through its own descriptor, so the caller may close its "
    "own at once") {
  Sandbox box;
  const std::string bytes = test::random_bytes(100000, 3);
  test::write_file(box / "file", bytes);
  boost::asio::io_context io;
  HashWorker worker(io);
  Outcome outcome;
  {
    UniqueFd mine = open_read(box / "file");
    UniqueFd its(::fcntl(mine.get(), F_DUPFD_CLOEXEC, 0));
    worker.hash({std::move(its), 0, static_cast<std::int64_t>(bytes.size()), Sha256(), "file"},
                [&](Sha256 fed, const Result<void>& read) {
                  if (read) outcome.digest = fed.finish_hex();
                });
  }  // the caller's descriptor is closed here, before the worker may have started
  io.run();
  REQUIRE(outcome.digest);
  CHECK(*outcome.digest == test::sha256_hex(bytes));
}

TEST_CASE("hash worker: a range past the end of the file is an error naming the file") {
  Sandbox box;
  test::write_file(box / "short", "only this");
  boost::asio::io_context io;
  HashWorker worker(io);
  Outcome outcome;
  worker.hash({open_read(box / "short"), 0, 1000, Sha256(), (box / "short").string()},
              [&](Sha256, const Result<void>& read) {
                if (!read) outcome.error = read.error().message;
              });
  io.run();
  CHECK_THAT(outcome.error, Catch::Contains((box / "short").string()));
}

TEST_CASE("hash worker: a moved-from hasher is usable again after reset") {
  Sha256 first;
  first.update("abc");
  Sha256 second = std::move(first);
  first.reset();  // NOLINT(bugprone-use-after-move): the case under test
  first.update("abc");
  CHECK(first.finish_hex() == second.finish_hex());
}

TEST_CASE(
    "hash worker: destroyed with jobs queued, it finishes the one running and never calls "
    "the completions of the others") {
  Sandbox box;
  test::write_random_file(box / "big", 64 << 20, 5);
  boost::asio::io_context io;
  int completions = 0;
  {
    HashWorker worker(io);
    for (int i = 0; i < 8; ++i)
      worker.hash({open_read(box / "big"), 0, 64 << 20, Sha256(), "big"},
                  [&](Sha256, const Result<void>&) { ++completions; });
  }  // joins: at most the job in progress completes (its completion is posted, not run)
  io.run();
  CHECK(completions < 8);
}
