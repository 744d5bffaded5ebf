// SPDX-License-Identifier: MIT
// One file's way from the server to its verified place under dest: one enum of states, one
// transition function, one handler per step. A Transfer makes one attempt at a time; whoever owns
// it (the mirror job) decides on retries from the outcome it reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "daemon/disk/hash_worker.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/disk/publisher.hpp"
#include "daemon/disk/sha256.hpp"
#include "daemon/net/fetcher.hpp"
#include "daemon/net/http_policy.hpp"
#include "daemon/schedule/scheduler.hpp"
#include "daemon/transfer/segment_plan.hpp"
#include "store/store.hpp"

namespace pnsync {

enum class TransferState {
  Queued,
  Connecting,
  Downloading,
  Verifying,
  Publishing,
  Done,
  Backoff,
  Failed
};
std::string_view to_string(TransferState state);

enum class AttemptOutcome {
  Verified,          // published and verified; `verified` is filled in
  Retry,             // transient: try again after a backoff
  RetryAfter,        // the server asked for a pause (`retry_after`)
  ChecksumMismatch,  // the bytes were wrong; the partial file is gone
  NotFound,          // 404/410: the file is gone upstream
  Fatal,             // retrying will not help (TLS failure, unexpected 4xx)
  AuthFailed,        // 401: the whole mirror must stop
  AccessDenied,      // 403: the whole mirror must stop
  LocalError,        // writing under dest failed (disk full, permission)
  IsDirectory,       // the server redirected NAME to NAME/ (development server listings)
};
std::string_view to_string(AttemptOutcome outcome);

struct AttemptResult {
  AttemptOutcome outcome = AttemptOutcome::Retry;
  std::string message;  // names the URL or the local path
  std::optional<std::chrono::seconds> retry_after;
  store::VerifiedFile verified;
  int errno_value = 0;
  // False when the request never went out: no connection (or TLS handshake) in time.
  bool connected = true;
  // A local copy adopted: what bringing it to file_mode/dir_mode changed.
  LocalTree::Closed closed{};
};

class Transfer;

// What a transfer needs from the outside world, and nothing more.
struct TransferContext {
  boost::asio::io_context& io;
  Log& log;
  Fetcher& http;
  const LocalTree& tree;
  std::string base_url;                        // ".../files/<project>/<version>/"
  std::function<void(std::int64_t)> on_bytes;  // bytes received, for progress
  // What every file body is paced against: the host's and the mirror's bandwidth_limit.
  ReceiveBudgets budgets;
  // Publishes verified files off the event loop, for every transfer of this context. Built from
  // `io` and `tree` unless the owner gives its own; the owner keeps the context alive until its
  // transfers are gone, and `tree` alive until the context is gone (the publisher's threads use
  // it).
  std::unique_ptr<Publisher> publisher = std::make_unique<Publisher>(io, tree);
  // Hashes what files fetched in byte ranges have written, off the event loop.
  std::unique_ptr<HashWorker> hash_worker = std::make_unique<HashWorker>(io);
  // Called when a transfer hands its verified file to the publisher: its request is over, only
  // the disk is left. Unset = nothing to do.
  std::function<void(Transfer&)> on_publishing = {};
  // A file of at least segment_size bytes is fetched as up to max_segments byte ranges at once
  // (1 = never), the ranges beyond the first on slots the queue can spare (add_range()).
  int max_segments = 1;
  std::int64_t segment_size = std::int64_t{64} << 20;
  SlowStreamSplit slow_stream = {};
  std::chrono::seconds retry_after_max{3600};  // the longest Retry-After honoured
  // Set once a range of any file has been answered 206 from this host: from then a plan may split
  // before its first answer (its ranges go out together, none cut short); until then a server
  // that ignores Range would get several whole-file requests at once.
  bool ranges_honoured = false;
  // Records how far each range of a file got (nullopt: no ranges any more), so that a restart
  // resumes each one; unset = not recorded (tests).
  std::function<void(store::FileId, std::int64_t on_disk,
                     const std::optional<std::string>& segments)>
      save_segments = {};
};

class Transfer {
public:
  // Body bytes are written in pieces of this size; see accept_body(). Bytes not yet written are
  // lost if the process is killed, and fetched again after the restart: a piece is a few HTTP/2
  // DATA frames (fewer write calls than one per frame), not a megabyte per file in flight. So a
  // kill -9 costs at most this much per transfer in flight (tests/daemon/app/crash_loop_test.cpp
  // bounds it so).
  static constexpr std::size_t kWriteBatch = 16 << 10;
  // A file fetched in byte ranges writes its plan (how far each range got) to the store at most
  // this often while ranges progress (a split writes at once): a kill loses at most this much of
  // each range's progress, which is fetched again (transfer_ranges.cpp; the crash loop bounds it).
  // A quarter second: an UPDATE is a few tens of microseconds (WAL, synchronous=NORMAL), and at
  // physionet.org's ~0.65 MB/s per stream a kill then costs each range about 160 KB.
  static constexpr std::chrono::milliseconds kSavePlanEvery{250};
  // Hashing a large file on the event loop held up the receiving of every transfer (S2 in
  // docs/benchmarks.md). A file fetched in one stream is hashed in memory as it arrives until it
  // reaches kHashBehindFrom; from there, like a file fetched in ranges, the hash worker reads back
  // what is on disk, once kHashAtLeast more is there, at most kHashStep per job (so a file whose
  // attempt ends stops being hashed within one step).
  static constexpr std::int64_t kHashBehindFrom = std::int64_t{4} << 20;
  static constexpr std::int64_t kHashAtLeast = std::int64_t{1} << 20;
  static constexpr std::int64_t kHashStep = std::int64_t{8} << 20;

  Transfer(TransferContext& context, store::FileRecord file,
           std::function<void(Transfer&, AttemptResult)> on_attempt_done);
  ~Transfer();
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  // Starts one attempt: adopts a complete local copy, finishes a complete partial file, or
  // requests the missing bytes. on_attempt_done is always called later, never from inside.
  void start();
  // Stops an attempt in flight; the partial file is kept for resuming.
  void cancel();
  void enter(TransferState next);

  TransferState state() const { return state_; }
  const store::FileRecord& file() const { return file_; }
  std::string url() const;
  std::int64_t bytes_on_disk() const { return written_; }
  // Hashing a copy found on disk before adopting or publishing it; bytes_checked() is how far.
  bool checking_local() const { return checking_local_; }
  std::int64_t bytes_checked() const { return hashed_; }

  // A large file fetched in byte ranges: whether a spare slot would start another range now,
  // and handing it one (the range holds the slot until it ends).
  bool wants_range() const;
  void add_range(Scheduler::Slot slot);
  // The bytes the range a spare slot would start is to fetch (0: none wanted), so that spare
  // slots go where they take the most off the end of the mirror.
  std::int64_t spare_slot_worth() const;
  // Byte ranges in flight (0 for a file fetched in one stream).
  std::size_t ranges_in_flight() const { return fetches_.size(); }

private:
  // One request of a file fetched in ranges (transfer_ranges.cpp).
  struct RangeFetch {
    std::size_t index = 0;  // into plan_
    std::int64_t requested_from = 0;
    std::int64_t requested_end = 0;  // one past the last byte asked for
    std::optional<Fetcher::RequestId> request;
    bool sent = false;  // its request is made (send_ranges): until then a split only moves its end
    std::chrono::steady_clock::time_point sent_at{};
    std::string pending;  // received, not yet written
    bool body_started = false;
    bool rejected = false;    // not the bytes asked for
    bool discarding = false;  // an error page
    bool own_slot = false;    // runs on the slot the transfer was started with
    Scheduler::Slot slot;     // otherwise: the spare slot it holds
  };

  bool accept_body(const ResponseInfo& info, std::string_view chunk);
  void learn_size(const ResponseInfo& info);
  void on_response(const HttpOutcome& outcome);
  // The local shortcuts of start(): true when one is under way (its hash on the hash worker),
  // and the attempt goes on from its completion.
  bool adopt_local_copy();
  bool finish_complete_partial();
  // What start() does once no complete copy under the final name was found.
  void finish_partial_or_fetch();
  // Requests what the partial file lacks.
  void fetch();
  // Hashes bytes [0, size) of `fd` (kept open by the caller) into hasher_ on the hash worker,
  // kHashStep per job, with hashed_ as its progress; then `done` on the loop. A copy of several
  // GB hashed on the event loop stalled every transfer, the control socket and the watchdog.
  void hash_local_copy(int fd, std::int64_t size, std::string name,
                       std::function<void(const Result<void>&)> done);
  void hash_local_step(int fd, std::int64_t size, std::string name,
                       std::function<void(const Result<void>&)> done);
  // Checks the bytes against the manifest hash or listed size. On success `verified_` is set and
  // nullopt returned; otherwise the failed attempt.
  std::optional<AttemptResult> verify(std::optional<std::int64_t> server_total);
  // Verifies, then hands the file to the publisher; finish() follows later in either case.
  void verify_and_publish(std::optional<std::int64_t> server_total,
                          std::optional<std::int64_t> mtime);
  void post_finish(AttemptResult result);
  // Writes the bytes collected in pending_write_; false (and write_error_ set) on failure.
  bool flush_writes();
  // Hashing behind the writing (a file in ranges, or a stream past kHashBehindFrom): hands the
  // next step of what is on disk to the hash worker, if it is time; and the verification of a
  // stream whose body ended before its hash did.
  void hash_behind();
  void finish_stream_if_hashed();
  AttemptResult restart_from_scratch(AttemptOutcome outcome, std::string message);
  void finish(AttemptResult result);
  // A fresh hash from byte 0; a read-back still running on the hash worker is forgotten.
  void reset_hash();

  // Ranges (transfer_ranges.cpp).
  bool should_fetch_in_ranges() const;
  std::optional<SegmentPlan> recorded_plan();
  void start_ranges();
  void launch_range(std::size_t index, Scheduler::Slot slot, bool own_slot);
  void send_ranges();
  // Requests in flight a split has cut short: their connections close when they stop, rather
  // than carry the bytes past the new end the server already sent.
  void close_cut_connections();
  bool accept_range_body(RangeFetch& fetch, const ResponseInfo& info, std::string_view chunk);
  void on_range_response(RangeFetch& fetch, const HttpOutcome& outcome);
  bool flush_range(RangeFetch& fetch);
  void save_plan(bool now);
  void forget_plan();
  void finish_ranges_if_done();
  void cancel_ranges();
  void fail_ranges(AttemptResult result);
  // Cuts the partial file to `size` bytes; a failure is logged (as a warning naming the partial
  // file) and otherwise left to the checks that already follow: the size and the hash are
  // verified before anything is published.
  void truncate_partial(std::int64_t size);
  std::optional<std::size_t> idle_range() const;
  std::int64_t min_range_left() const;
  // Bytes a second the ranges in flight for at least a second got, on average; nullopt before.
  std::optional<double> range_rate() const;
  // A single stream too slow for what it has left (context_.slow_stream): the least each range
  // should then hold; nullopt when it is not.
  std::optional<std::int64_t> slow_stream_range() const;

  TransferContext& context_;
  store::FileRecord file_;
  std::function<void(Transfer&, AttemptResult)> on_attempt_done_;
  TransferState state_ = TransferState::Queued;
  UniqueFd partial_;
  std::string pending_write_;     // received, hashed, not yet written to partial_
  Sha256 hasher_;                 // with the hash worker while hash_in_flight_
  std::int64_t resume_from_ = 0;  // partial size when the request was sent
  std::chrono::steady_clock::time_point stream_sent_at_{};  // when that request was sent
  // Set when a slow stream was split (slow_stream_range): the least a range holds, instead of
  // segment_size / 8.
  std::int64_t slow_range_left_ = 0;
  std::int64_t written_ = 0;  // bytes in the partial file
  bool body_started_ = false;
  bool body_rejected_ = false;    // a 206 from the wrong offset: start over
  bool discarding_body_ = false;  // an error page, not the file
  bool oversized_ = false;        // more bytes than the listing promised
  bool local_copy_checked_ = false;
  bool checking_local_ = false;  // hash_local_copy() under way
  UniqueFd local_copy_;          // the final file being checked for adoption
  std::optional<Error> write_error_;
  std::optional<Fetcher::RequestId> request_;
  store::VerifiedFile verified_;  // set by verify() for the publish that follows
  PublishTicket publishing_;      // while the publisher has the file
  // Fetching in ranges: the plan (kept across attempts) and the requests in flight. Both kinds:
  // how far the in-order hash got when it reads back (hashed_); a read-back on the hash worker
  // that is still wanted carries hash_epoch_ (reset_hash() moves it on).
  std::optional<SegmentPlan> plan_;
  std::vector<std::unique_ptr<RangeFetch>> fetches_;
  std::int64_t hashed_ = 0;
  bool hash_in_flight_ = false;
  std::uint64_t hash_epoch_ = 0;
  // A stream hashed behind its writing, and what its response said once the body ended before
  // the hash (the server's total and Last-Modified, for verify_and_publish).
  bool hash_behind_ = false;
  struct EndedBody {
    std::optional<std::int64_t> total;
    std::optional<std::int64_t> mtime;
  };
  std::optional<EndedBody> verify_when_hashed_;
  bool send_posted_ = false;                  // send_ranges() is due on the loop
  bool ranges_refused_ = false;               // the server ignored a Range: one stream from now on
  std::optional<std::int64_t> size_changed_;  // a range's answer gave another total size
  bool plan_recorded_ = false;                // the store may hold a plan for this file
  std::chrono::steady_clock::time_point plan_saved_at_{};
  std::optional<std::int64_t> ranges_mtime_;
  // Handlers posted by this transfer hold a weak reference: they find nothing once it is gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pnsync
