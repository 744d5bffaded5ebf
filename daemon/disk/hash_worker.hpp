// SPDX-License-Identifier: MIT
// Hashes byte ranges of files on a thread of its own, beside the event loop, and starts the
// writeback of the ranges it hashed.
//
// A large file fetched in byte ranges is hashed by reading back, in order, what its ranges have
// written (transfer_ranges.cpp). On the event loop, which also receives, decrypts and writes the
// bytes of every transfer, that read-back and SHA-256 (0.7 CPU s per GiB with the SHA extensions)
// held up the receiving: the loop was the bottleneck of a fast download (docs/benchmarks.md, S2).
//
// One thread, started on the first job: SHA-256 of one file is sequential, and one core hashes
// faster (1.5 GB/s) than any network pnsync meets. Jobs run in the order given. Each completion
// is posted to the io_context. The destructor lets the job in progress finish and drops the jobs
// not started; their completions never run, and completions already posted find whatever their
// callers left behind (callers hold weak references).
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/disk/sha256.hpp"

namespace pnsync {

struct HashJob {
  // The worker's own descriptor (a dup): the caller may close or hand on its own meanwhile.
  UniqueFd file;
  std::int64_t from = 0;
  std::int64_t length = 0;
  // The running hash, handed over for the job and handed back by its completion: while the job
  // runs, only the worker touches it.
  Sha256 hasher;
  std::string name;  // the file, for error messages
  // The range was just downloaded: once hashed, the worker asks the kernel to start writing it
  // to disk (sync_file_range). Otherwise the page cache holds a whole large file dirty until its
  // fsync, which then waits for all of it while the disk sat idle during the download (on this
  // machine's disk, 1 GiB of large files took about as long to fsync as to fetch: S2 in
  // docs/benchmarks.md). Off for a copy already on disk (adoption), whose pages are clean.
  bool write_back = false;
};

class HashWorker {
public:
  // On the io_context: the hasher, fed with the range unless the read failed (an error naming
  // the file).
  using Done = std::function<void(Sha256 hasher, Result<void> read)>;

  explicit HashWorker(boost::asio::io_context& io);
  ~HashWorker();
  HashWorker(const HashWorker&) = delete;
  HashWorker& operator=(const HashWorker&) = delete;

  // Queues a job. `done` is called later on the io_context, never from inside.
  void hash(HashJob job, Done done);

  class Thread;  // in hash_worker.cpp

private:
  boost::asio::io_context& io_;
  std::unique_ptr<Thread> thread_;
};

}  // namespace pnsync
