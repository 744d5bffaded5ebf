// SPDX-License-Identifier: MIT
#include "daemon/transfer/transfer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "daemon/disk/safe_path.hpp"
#include "daemon/net/http_policy.hpp"
#include "daemon/transfer/transfer_io.hpp"

namespace pnsync {

std::string_view to_string(TransferState state) {
  switch (state) {
    case TransferState::Queued:
      return "queued";
    case TransferState::Connecting:
      return "connecting";
    case TransferState::Downloading:
      return "downloading";
    case TransferState::Verifying:
      return "verifying";
    case TransferState::Publishing:
      return "publishing";
    case TransferState::Done:
      return "done";
    case TransferState::Backoff:
      return "backoff";
    case TransferState::Failed:
      return "failed";
  }
  return "?";
}

std::string_view to_string(AttemptOutcome outcome) {
  switch (outcome) {
    case AttemptOutcome::Verified:
      return "verified";
    case AttemptOutcome::Retry:
      return "retry";
    case AttemptOutcome::RetryAfter:
      return "retry-after";
    case AttemptOutcome::ChecksumMismatch:
      return "checksum-mismatch";
    case AttemptOutcome::NotFound:
      return "not-found";
    case AttemptOutcome::Fatal:
      return "fatal";
    case AttemptOutcome::AuthFailed:
      return "auth-failed";
    case AttemptOutcome::AccessDenied:
      return "access-denied";
    case AttemptOutcome::LocalError:
      return "local-error";
    case AttemptOutcome::IsDirectory:
      return "is-directory";
  }
  return "?";
}

Transfer::Transfer(TransferContext& context, store::FileRecord file,
                   std::function<void(Transfer&, AttemptResult)> on_attempt_done)
    : context_(context), file_(std::move(file)), on_attempt_done_(std::move(on_attempt_done)) {}

Transfer::~Transfer() {
  cancel();
}

std::string Transfer::url() const {
  return context_.base_url + percent_encode_path(file_.path);
}

void Transfer::enter(TransferState next) {
  if (next == state_) return;
  context_.log.debug(file_.path + ": " + std::string(to_string(state_)) + " -> " +
                     std::string(to_string(next)));
  state_ = next;
}

void Transfer::start() {
  enter(TransferState::Connecting);
  body_started_ = body_rejected_ = discarding_body_ = oversized_ = false;
  write_error_.reset();
  reset_hash();

  // Without the network when possible: a complete copy under the final name, or a complete
  // partial file (killed after the download, before the rename). Either is hashed on the hash
  // worker first, and the attempt goes on from there.
  if (adopt_local_copy()) return;
  finish_partial_or_fetch();
}

void Transfer::finish_partial_or_fetch() {
  // A partial file fetched in ranges is complete only when every range is: until then it has
  // holes.
  if (!plan_ && !ranges_refused_) plan_ = recorded_plan();
  if (plan_ && plan_->complete()) plan_.reset();  // a whole file, checked like any other
  if (!plan_ && finish_complete_partial()) return;
  fetch();
}

void Transfer::fetch() {
  enter(TransferState::Connecting);
  if (!partial_) {
    auto opened = context_.tree.open_partial(file_.path);
    if (!opened) {
      post_finish(
          {AttemptOutcome::LocalError, opened.error().message, {}, {}, opened.error().errno_value});
      return;
    }
    partial_ = std::move(*opened);
  }
  struct stat info {};
  ::fstat(partial_.get(), &info);
  written_ = info.st_size;
  if (file_.size && written_ > *file_.size) {
    // Longer than the file can be: nothing in it is worth keeping.
    truncate_partial(0);
    written_ = 0;
  }
  if (plan_ || should_fetch_in_ranges()) {
    if (!plan_) plan_.emplace(*file_.size, written_);  // one range: still a plain prefix
    start_ranges();
    return;
  }
  if (written_ >= kHashBehindFrom) {
    // Resume: the hash covers the whole file, so the bytes already here go in first, read back
    // by the hash worker while the rest arrives.
    hash_behind_ = true;
    hash_behind();
  } else if (written_ > 0) {
    if (auto hashed = hash_file_prefix(partial_.get(), written_, hasher_,
                                       context_.tree.partial_name(file_.path));
        !hashed) {
      truncate_partial(0);
      written_ = 0;
      reset_hash();
    }
  }
  ::lseek(partial_.get(), written_, SEEK_SET);
  resume_from_ = written_;

  GetRequest request;
  request.url = url();
  if (resume_from_ > 0) request.range_from = resume_from_;
  request.budgets = context_.budgets;
  request.on_body = [this](const ResponseInfo& info, std::string_view chunk) {
    return accept_body(info, chunk);
  };
  stream_sent_at_ = std::chrono::steady_clock::now();
  request_ = context_.http.get(std::move(request), [this](const HttpOutcome& outcome) {
    request_.reset();
    on_response(outcome);
  });
}

void Transfer::cancel() {
  cancel_ranges();
  if (request_) {
    context_.http.cancel(*request_);
    request_.reset();
  }
  flush_writes();  // what arrived stays for the next attempt
  if (checking_local_) {
    // Cut short: the next attempt checks the copy again rather than fetching it.
    checking_local_ = false;
    local_copy_checked_ = false;
    local_copy_ = UniqueFd();
  }
  reset_hash();                   // the next attempt hashes from byte 0 again
  publishing_ = PublishTicket();  // the file may still be published; nobody is told
  if (state_ != TransferState::Done && state_ != TransferState::Failed)
    enter(TransferState::Queued);
}

bool Transfer::adopt_local_copy() {
  // A complete copy may already sit under the final name: a dest filled by wget, or a crash
  // between the rename and the database commit. Check it once, by the strongest means known.
  if (local_copy_checked_) return false;
  local_copy_checked_ = true;
  auto existing = context_.tree.stat_final(file_.path);
  if (!existing || !existing->has_value() || !S_ISREG((*existing)->st_mode) ||
      !(file_.expected_sha256 || (file_.size && *file_.size == (*existing)->st_size)))
    return false;
  auto fd = context_.tree.open_final(file_.path);
  if (!fd) return false;
  const std::int64_t size = (*existing)->st_size;
  local_copy_ = std::move(*fd);
  hash_local_copy(local_copy_.get(), size, file_.path, [this, size](const Result<void>& read) {
    UniqueFd copy = std::move(local_copy_);
    const std::string actual = hasher_.finish_hex();
    reset_hash();
    const bool manifest_ok = file_.expected_sha256 && *file_.expected_sha256 == actual;
    if (!read || (!manifest_ok && file_.expected_sha256)) {
      finish_partial_or_fetch();  // not the file: fetch it
      return;
    }
    auto closed = context_.tree.close_adopted(file_.path, copy.get());
    if (!closed) {
      finish(
          {AttemptOutcome::LocalError, closed.error().message, {}, {}, closed.error().errno_value});
      return;
    }
    context_.tree.remove_partial(file_.path);
    AttemptResult adopted{AttemptOutcome::Verified, "", {}, {}, 0};
    adopted.closed = *closed;
    adopted.verified = {file_.id, size, actual,
                        manifest_ok ? store::VerifyKind::Sha256Manifest : store::VerifyKind::Size};
    finish(std::move(adopted));
  });
  return true;
}

bool Transfer::finish_complete_partial() {
  if (!file_.size) return false;
  auto opened = context_.tree.open_partial(file_.path);
  if (!opened) return false;
  struct stat info {};
  const bool complete =
      ::fstat(opened->get(), &info) == 0 && info.st_size == *file_.size && info.st_size > 0;
  if (!partial_) partial_ = std::move(*opened);
  if (!complete) return false;
  const std::int64_t size = info.st_size;
  hash_local_copy(partial_.get(), size, context_.tree.partial_name(file_.path),
                  [this, size](const Result<void>& read) {
                    if (!read) {
                      reset_hash();
                      fetch();
                      return;
                    }
                    written_ = size;
                    verify_and_publish(std::nullopt, std::nullopt);
                  });
  return true;
}

void Transfer::hash_local_copy(int fd, std::int64_t size, std::string name,
                               std::function<void(const Result<void>&)> done) {
  enter(TransferState::Verifying);
  checking_local_ = true;
  hash_local_step(fd, size, std::move(name), std::move(done));
}

void Transfer::hash_local_step(int fd, std::int64_t size, std::string name,
                               std::function<void(const Result<void>&)> done) {
  const auto finish_check = [this](const std::function<void(const Result<void>&)>& done_now,
                                   const Result<void>& read) {
    checking_local_ = false;
    done_now(read);
  };
  UniqueFd reader(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!reader) {
    const Error error = local_error("cannot read", name, errno);
    boost::asio::post(context_.io, [this, alive = std::weak_ptr<int>(alive_), epoch = hash_epoch_,
                                    finish_check, done = std::move(done), error] {
      if (alive.lock() && epoch == hash_epoch_) finish_check(done, error);
    });
    return;
  }
  const std::int64_t step = std::min(size - hashed_, kHashStep);
  hash_in_flight_ = true;
  // The job's copy of the name is made first: the completion below takes `name` itself, and the
  // two arguments may be evaluated in either order.
  HashJob job{std::move(reader), hashed_, step, std::move(hasher_), name};
  context_.hash_worker->hash(
      std::move(job), [this, alive = std::weak_ptr<int>(alive_), epoch = hash_epoch_, fd, size,
                       step, name = std::move(name), done = std::move(done),
                       finish_check](Sha256 hasher, const Result<void>& read) mutable {
        if (!alive.lock() || epoch != hash_epoch_) return;  // cancelled, or started over
        hash_in_flight_ = false;
        hasher_ = std::move(hasher);
        if (!read) {
          finish_check(done, read);
          return;
        }
        hashed_ += step;
        if (hashed_ < size) {
          hash_local_step(fd, size, std::move(name), std::move(done));
          return;
        }
        finish_check(done, Result<void>());
      });
}

void Transfer::learn_size(const ResponseInfo& info) {
  // A file the manifest lists may start before the listing gives its size: the response does.
  if (file_.size) return;
  if (info.status == 200 && info.content_length) {
    file_.size = info.content_length;
  } else if (info.status == 206 && info.content_range) {
    if (auto range = parse_content_range(*info.content_range)) file_.size = range->total;
  }
}

bool Transfer::accept_body(const ResponseInfo& info, std::string_view chunk) {
  if (!body_started_) {
    body_started_ = true;
    enter(TransferState::Downloading);
    learn_size(info);
    if (info.status == 200) {
      if (resume_from_ > 0) {
        // The server ignored the Range: the body is the whole file.
        truncate_partial(0);
        ::lseek(partial_.get(), 0, SEEK_SET);
        reset_hash();
        written_ = 0;
      }
    } else if (info.status == 206) {
      auto range = info.content_range ? parse_content_range(*info.content_range) : std::nullopt;
      if (resume_decision(resume_from_, 206, range) != ResumeAction::Append) {
        body_rejected_ = true;
        return false;
      }
    } else {
      discarding_body_ = true;  // an error page
    }
  }
  if (discarding_body_) return true;
  if (file_.size && written_ + static_cast<std::int64_t>(chunk.size()) > *file_.size) {
    oversized_ = true;
    return false;
  }
  // Collected, then written in large page-aligned pieces: one write(2) per HTTP/2 DATA frame
  // (~16 KB) cost more CPU in the kernel than the copy itself (docs/benchmarks.md, S2).
  pending_write_.append(chunk);
  if (!hash_behind_) hasher_.update(chunk);
  written_ += static_cast<std::int64_t>(chunk.size());
  if (context_.on_bytes) context_.on_bytes(static_cast<std::int64_t>(chunk.size()));
  return pending_write_.size() < kWriteBatch || flush_writes();
}

void Transfer::on_response(const HttpOutcome& outcome) {
  const long status = outcome.info.status;
  const std::string where = outcome.url + ": ";
  // Whatever arrived is kept, for verifying now or resuming later.
  flush_writes();
  if (write_error_) {
    finish({AttemptOutcome::LocalError, write_error_->message, {}, {}, write_error_->errno_value});
    return;
  }
  if (oversized_) {
    finish(restart_from_scratch(AttemptOutcome::ChecksumMismatch,
                                where + "server sent more than the " + std::to_string(*file_.size) +
                                    " bytes the listing gives"));
    return;
  }
  if (body_rejected_) {
    finish(restart_from_scratch(AttemptOutcome::Retry,
                                where + "answer to a range request starts at the wrong offset (" +
                                    outcome.info.content_range.value_or("no Content-Range") + ")"));
    return;
  }
  if (status >= 300 && status < 400) {
    const std::string expected = url() + "/";
    if (outcome.info.location && (*outcome.info.location == expected ||
                                  outcome.info.location->ends_with(
                                      "/" + file_.path.substr(file_.path.rfind('/') + 1) + "/"))) {
      finish({AttemptOutcome::IsDirectory, where + "is a directory", {}, {}, 0});
    } else {
      finish({AttemptOutcome::Fatal,
              where + "unexpected redirect (" + std::to_string(status) + ") to " +
                  outcome.info.location.value_or("?"),
              {},
              {},
              0});
    }
    return;
  }
  if (status == 416) {
    auto range = outcome.info.content_range ? parse_content_range(*outcome.info.content_range)
                                            : std::nullopt;
    if (resume_decision(resume_from_, 416, range) == ResumeAction::Complete) {
      verify_and_publish(range->total, imf_time(outcome.info.last_modified));
    } else {
      finish(restart_from_scratch(AttemptOutcome::Retry,
                                  where + "416 Range Not Satisfiable for a partial file of " +
                                      std::to_string(resume_from_) + " bytes; starting over"));
    }
    return;
  }
  const Verdict verdict = classify(outcome.curl_code, status, outcome.info.retry_after.has_value());
  if (verdict != Verdict::Success) {
    finish(failed_attempt(verdict, outcome, context_.retry_after_max));
    return;
  }
  if (status != 200 && status != 206) {
    finish({AttemptOutcome::Fatal, where + "unexpected " + status_text(status), {}, {}, 0});
    return;
  }
  if (status == 200 && !body_started_ && resume_from_ > 0) {
    // An empty 200 to a range request: the file is now empty.
    truncate_partial(0);
    reset_hash();
    written_ = 0;
  }
  std::optional<std::int64_t> total = outcome.info.content_length;
  if (status == 206) {
    auto range = outcome.info.content_range ? parse_content_range(*outcome.info.content_range)
                                            : std::nullopt;
    total = range ? range->total : std::nullopt;
  }
  const auto mtime = imf_time(outcome.info.last_modified);
  if (hash_behind_ && (hash_in_flight_ || hashed_ < written_) && !(total && *total != written_)) {
    // The hash worker is still reading back the end of the file.
    enter(TransferState::Verifying);
    verify_when_hashed_ = EndedBody{total, mtime};
    hash_behind();
    return;
  }
  verify_and_publish(total, mtime);
}

std::optional<AttemptResult> Transfer::verify(std::optional<std::int64_t> server_total) {
  enter(TransferState::Verifying);
  if (server_total && *server_total != written_) {
    // Keep the bytes: the next attempt asks for the rest.
    return AttemptResult{AttemptOutcome::Retry,
                         url() + ": body ended after " + std::to_string(written_) + " of " +
                             std::to_string(*server_total) + " bytes",
                         {},
                         {},
                         0};
  }
  const std::string actual = hasher_.finish_hex();
  store::VerifyKind kind = store::VerifyKind::Size;
  if (file_.expected_sha256) {
    if (*file_.expected_sha256 != actual) {
      return restart_from_scratch(AttemptOutcome::ChecksumMismatch,
                                  url() + ": SHA-256 mismatch (SHA256SUMS.txt says " +
                                      *file_.expected_sha256 + ", got " + actual + ")");
    }
    kind = store::VerifyKind::Sha256Manifest;
  } else if (file_.size && *file_.size != written_) {
    return restart_from_scratch(AttemptOutcome::ChecksumMismatch,
                                url() + ": size " + std::to_string(written_) +
                                    " differs from the listing's " + std::to_string(*file_.size));
  }
  verified_ = {file_.id, written_, actual, kind};
  return std::nullopt;
}

void Transfer::verify_and_publish(std::optional<std::int64_t> server_total,
                                  std::optional<std::int64_t> mtime) {
  if (auto failed = verify(server_total)) {
    post_finish(std::move(*failed));
    return;
  }
  enter(TransferState::Publishing);
  // The publisher owns the descriptor from here; the completion comes on the loop, after the file
  // and its directory are durable, and never once this transfer is gone (the ticket dies with it).
  publishing_ = context_.publisher->publish(
      {file_.path, std::move(partial_), mtime}, [this](const Result<void>& published) {
        publishing_ = PublishTicket();
        if (!published) {
          finish({AttemptOutcome::LocalError,
                  published.error().message,
                  {},
                  {},
                  published.error().errno_value});
          return;
        }
        AttemptResult result{AttemptOutcome::Verified, "", {}, {}, 0};
        result.verified = verified_;
        finish(std::move(result));
      });
  if (context_.on_publishing) context_.on_publishing(*this);
}

bool Transfer::flush_writes() {
  if (pending_write_.empty()) return !write_error_;
  if (partial_ && !write_error_) {
    if (auto wrote =
            write_all(partial_.get(), pending_write_, context_.tree.partial_name(file_.path));
        !wrote)
      write_error_ = wrote.error();
  }
  pending_write_.clear();
  if (pending_write_.capacity() > kWriteBatch) pending_write_.shrink_to_fit();
  if (write_error_) return false;
  if (!plan_ && !hash_behind_ && written_ >= kHashBehindFrom) {
    // Long enough to be worth a thread: from here the hash worker reads back what is written.
    // The hasher holds [0, written_), all of it on disk.
    hash_behind_ = true;
    hashed_ = written_;
  }
  hash_behind();
  return true;
}

void Transfer::hash_behind() {
  if (!(plan_ || hash_behind_) || hash_in_flight_ || !partial_ || write_error_) return;
  // The bytes from 0 on disk with no gap: a stream's written minus what still waits in memory.
  const std::int64_t ready =
      plan_ ? plan_->contiguous() : written_ - static_cast<std::int64_t>(pending_write_.size());
  const bool all_there = plan_ ? ready == plan_->size() : verify_when_hashed_.has_value();
  if (ready - hashed_ < kHashAtLeast && !all_there) return;
  const std::int64_t step = std::min(ready - hashed_, kHashStep);
  if (step <= 0) return;
  // A read error is reported like a write error, by the step that meets it next.
  std::string name = context_.tree.partial_name(file_.path);
  UniqueFd reader(::fcntl(partial_.get(), F_DUPFD_CLOEXEC, 0));
  if (!reader) {
    write_error_ = local_error("cannot read", name, errno);
    return;
  }
  hash_in_flight_ = true;
  context_.hash_worker->hash(
      {std::move(reader), hashed_, step, std::move(hasher_), std::move(name), /*write_back=*/true},
      [this, alive = std::weak_ptr<int>(alive_), epoch = hash_epoch_, step](
          Sha256 hasher, const Result<void>& read) {
        if (!alive.lock() || epoch != hash_epoch_) return;  // gone, or started over meanwhile
        hash_in_flight_ = false;
        hasher_ = std::move(hasher);
        if (read) {
          hashed_ += step;
        } else {
          write_error_ = read.error();
        }
        hash_behind();
        if (plan_) {
          finish_ranges_if_done();
        } else {
          finish_stream_if_hashed();
        }
      });
}

void Transfer::finish_stream_if_hashed() {
  if (!verify_when_hashed_ || hash_in_flight_) return;
  if (write_error_) {
    verify_when_hashed_.reset();
    finish({AttemptOutcome::LocalError, write_error_->message, {}, {}, write_error_->errno_value});
    return;
  }
  if (hashed_ < written_) return;
  const auto [total, mtime] = *verify_when_hashed_;
  verify_when_hashed_.reset();
  verify_and_publish(total, mtime);
}

AttemptResult Transfer::restart_from_scratch(AttemptOutcome outcome, std::string message) {
  partial_ = UniqueFd();
  pending_write_.clear();
  context_.tree.remove_partial(file_.path);
  forget_plan();  // after the file: a plan must never outlive the bytes it describes
  reset_hash();
  written_ = 0;
  return {outcome, std::move(message), {}, {}, 0};
}

void Transfer::reset_hash() {
  hasher_.reset();
  hashed_ = 0;
  hash_in_flight_ = false;
  hash_behind_ = false;
  verify_when_hashed_.reset();
  ++hash_epoch_;
}

void Transfer::post_finish(AttemptResult result) {
  boost::asio::post(context_.io, [this, alive = std::weak_ptr<int>(alive_),
                                  result = std::move(result)]() mutable {
    if (alive.lock()) finish(std::move(result));
  });
}

void Transfer::finish(AttemptResult result) {
  // A file that is gone or refused for good leaves no empty partial file behind; bytes already
  // received stay for a later attempt.
  if ((result.outcome == AttemptOutcome::NotFound || result.outcome == AttemptOutcome::Fatal) &&
      written_ == 0 && partial_) {
    partial_ = UniqueFd();
    context_.tree.remove_partial(file_.path);
  }
  enter(result.outcome == AttemptOutcome::Verified ? TransferState::Done : TransferState::Queued);
  reset_hash();  // an attempt that ended hashes no more; a late read-back must not end it again
  // Last statement: the owner may destroy this transfer in the callback.
  on_attempt_done_(*this, std::move(result));
}

void Transfer::truncate_partial(std::int64_t size) {
  if (::ftruncate(partial_.get(), static_cast<off_t>(size)) != 0)
    context_.log.warning("cannot truncate " + context_.tree.partial_name(file_.path) + " to " +
                         std::to_string(size) + " bytes: " + std::strerror(errno));
}

}  // namespace pnsync
