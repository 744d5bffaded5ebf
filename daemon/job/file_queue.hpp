// SPDX-License-Identifier: MIT
// The files of a mirror pass on their way to verified: queued for a transfer slot, fetching,
// backing off, or given up on.
//
// A queued file is its path and counters; its Transfer is made when it first gets a slot, from the
// store's record as it is then. Each attempt's outcome is decided here: retried (with its back-off,
// or the server's Retry-After), fetched again after a checksum mismatch, given up on after
// max_attempts, or the pass stopped (401/403, a local error). A connect or TLS handshake that
// hung or was refused does not count toward max_attempts (kMaxNotConnected).
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "daemon/job/pass_control.hpp"
#include "daemon/job/retry_waits.hpp"
#include "daemon/schedule/scheduler.hpp"
#include "daemon/transfer/transfer.hpp"
#include "store/store.hpp"

namespace pnsync {

// A file being fetched right now, for status displays.
struct InFlightFile {
  std::string path;
  std::int64_t bytes_on_disk = 0;
  std::optional<std::int64_t> size;
  int ranges = 1;         // byte ranges in flight (large files)
  bool checking = false;  // hashing a copy on disk; bytes_on_disk is then the bytes hashed
};

// What the queue works with; the pass owns all of it and outlives the queue.
struct FileQueueContext {
  boost::asio::io_context& io;
  Log& log;
  Scheduler& scheduler;
  store::Store& store;
  store::MirrorId mirror = 0;
  TransferContext& transfers;
  RetryWaits& retries;
  int max_attempts = 1;
  // The pass: every handler the queue gives the loop or the scheduler keeps it alive.
  std::weak_ptr<void> owner;
};

// What the queue tells the pass, each inside a guarded step.
struct FileQueueEvents {
  // A file was verified and published; the pass records it.
  std::function<void(const AttemptResult&)> verified;
  // A name taken for a file is a directory; its row is gone, the pass lists it.
  std::function<void(const std::string& dir)> is_directory;
  // A file left the queue, or a wait for a retry ended: the pass may be over.
  std::function<void()> changed;
};

class FileQueue {
public:
  FileQueue(FileQueueContext context, PassControl& pass, FileQueueEvents events);
  FileQueue(const FileQueue&) = delete;
  FileQueue& operator=(const FileQueue&) = delete;
  FileQueue(FileQueue&&) = delete;
  FileQueue& operator=(FileQueue&&) = delete;
  ~FileQueue() = default;

  // Queues `file` for a slot, unless it is queued already.
  void enqueue(const store::FileRecord& file);
  bool holds(const std::string& path) const { return files_.contains(path); }
  // This pass gave up on `path`: a listing that comes later does not start it again.
  bool gave_up(const std::string& path) const { return given_up_.contains(path); }
  // `path` is no longer listed upstream: its transfer, if any, is cancelled and dropped.
  void forget(const std::string& path);
  // The request of `path` is over (only the disk is left): its slot can start another file.
  void release_slot(const std::string& path);
  // The pass stops: every transfer is cancelled; partial files stay for the next pass.
  void cancel_all();

  bool empty() const { return files_.empty(); }
  std::size_t size() const { return files_.size(); }
  std::vector<InFlightFile> in_flight() const;
  // Transfers that would take another slot for a byte range (demand the queue does not show).
  int ranges_wanted() const;
  // Hands each slot the scheduler can spare to the file whose next byte range is worth most.
  void offer_spare_slots();

private:
  struct Pending {
    std::unique_ptr<Transfer> transfer;  // made at its first slot (make_transfer)
    Scheduler::Slot slot;                // held while an attempt runs
    int attempts = 0;
    int mismatches = 0;
    int not_connected = 0;  // attempts that never got a connection (not counted in attempts)
  };
  void submit(const std::string& path);
  void start(const std::string& path, Scheduler::Slot slot);
  // False (and the file dropped) when the store no longer has it.
  bool make_transfer(const std::string& path, Pending& pending);
  void on_attempt_done(Transfer& transfer, const AttemptResult& result);
  void retry_later(const std::string& path, int attempt,
                   std::optional<std::chrono::seconds> retry_after);
  void give_up(const std::string& path, const std::string& message);
  // Drops a file on the next turn of the loop: we may be inside its transfer's own callback.
  void drop_later(const std::string& path);

  FileQueueContext context_;
  PassControl& pass_;
  FileQueueEvents events_;
  // Queued, running or backing off, by path. A Transfer is about 2 KB: made only when a file
  // first gets a slot, so that a queue of 600,000 files (MIMIC-CXR) does not hold 600,000 of them
  // (100,000 queued files took 228 MB).
  std::map<std::string, Pending> files_;
  std::set<std::string> given_up_;
};

}  // namespace pnsync
