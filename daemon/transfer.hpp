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

#include "daemon/http_client.hpp"
#include "daemon/http_policy.hpp"
#include "daemon/local_tree.hpp"
#include "daemon/log.hpp"
#include "daemon/publisher.hpp"
#include "daemon/sha256.hpp"
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
};

// What a transfer needs from the outside world, and nothing more.
struct TransferContext {
  boost::asio::io_context& io;
  Log& log;
  HttpClient& http;
  const LocalTree& tree;
  std::string base_url;                        // ".../files/<project>/<version>/"
  std::function<void(std::int64_t)> on_bytes;  // bytes received, for progress
  // The receive-rate cap for a request starting now (bandwidth_limit shared among the transfer
  // slots); 0 or unset = none.
  std::function<std::int64_t()> recv_speed = {};
  // Publishes verified files off the event loop, for every transfer of this context. Built from
  // `io` and `tree` unless the owner gives its own; the owner keeps the context alive until its
  // transfers are gone, and `tree` alive until the context is gone (the publisher's threads use
  // it).
  std::unique_ptr<Publisher> publisher = std::make_unique<Publisher>(io, tree);
};

class Transfer {
public:
  // Body bytes are written in pieces of this size; see accept_body(). Bytes not yet written are
  // lost if the process is killed, and fetched again after the restart: a piece is a few HTTP/2
  // DATA frames (fewer write calls than one per frame), not a megabyte per file in flight. So a
  // kill -9 costs at most this much per transfer in flight (tests/daemon/crash_loop_test.cpp
  // bounds it so).
  static constexpr std::size_t kWriteBatch = 16 << 10;

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

private:
  bool accept_body(const ResponseInfo& info, std::string_view chunk);
  void on_response(const HttpOutcome& outcome);
  bool adopt_local_copy();
  bool finish_complete_partial();
  // Checks the bytes against the manifest hash or listed size. On success `verified_` is set and
  // nullopt returned; otherwise the failed attempt.
  std::optional<AttemptResult> verify(std::optional<std::int64_t> server_total);
  // Verifies, then hands the file to the publisher; finish() follows later in either case.
  void verify_and_publish(std::optional<std::int64_t> server_total,
                          std::optional<std::int64_t> mtime);
  void post_finish(AttemptResult result);
  // Writes the bytes collected in pending_write_; false (and write_error_ set) on failure.
  bool flush_writes();
  AttemptResult restart_from_scratch(AttemptOutcome outcome, std::string message);
  void finish(AttemptResult result);

  TransferContext& context_;
  store::FileRecord file_;
  std::function<void(Transfer&, AttemptResult)> on_attempt_done_;
  TransferState state_ = TransferState::Queued;
  UniqueFd partial_;
  std::string pending_write_;  // received, hashed, not yet written to partial_
  Sha256 hasher_;
  std::int64_t resume_from_ = 0;  // partial size when the request was sent
  std::int64_t written_ = 0;      // bytes in the partial file
  bool body_started_ = false;
  bool body_rejected_ = false;    // a 206 from the wrong offset: start over
  bool discarding_body_ = false;  // an error page, not the file
  bool oversized_ = false;        // more bytes than the listing promised
  bool local_copy_checked_ = false;
  std::optional<Error> write_error_;
  std::optional<HttpClient::RequestId> request_;
  store::VerifiedFile verified_;  // set by verify() for the publish that follows
  PublishTicket publishing_;      // while the publisher has the file
  // Handlers posted by this transfer hold a weak reference: they find nothing once it is gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pnsync
