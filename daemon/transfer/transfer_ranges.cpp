// SPDX-License-Identifier: MIT
// Transfer, fetching a large file as several byte ranges at once (context.max_segments > 1, size
// at least context.segment_size).
//
// Why: a server that limits each request or each connection to a fixed rate (physionet.org gives
// one connection about 0.65 MB/s) makes a 5 GB file take two hours in one stream, however idle the
// other transfer slots are. Ranges fill those slots: the first range runs on the transfer's own
// slot, and each spare slot the scheduler can give (Scheduler::try_acquire: nothing queued) goes
// to the file whose new range would be the largest (spare_slot_worth, MirrorJob::offer_spare_slots)
// and splits its range with the most left (SegmentPlan::split). So ranges never delay queued
// files: while the queue is long a large file goes as one stream, and at the tail of a mirror the
// large files share the slots the small files leave.
//
// How:
//  - Each range is a request "Range: bytes=next-(end-1)"; its bytes are written at their offset
//    (pwrite) in pieces of kWriteBatch. A range cut short by a split stops its request once it
//    reaches its new end.
//  - The plan (ranges and how far each got, only bytes already written) goes to the store at
//    once when a split creates a range, else at most every kSavePlanEvery (250 ms) and when the
//    attempt ends: after a kill each range resumes where its recorded bytes end. Before a plan is
//    trusted the .part file must hold every byte it claims (a .part file removed behind our back
//    restarts the file), and a plan that does not tile the file (size changed upstream) is dropped.
//  - The hash runs in order over the bytes from 0 that have no gap, read back from the .part file
//    (from the page cache) in steps of at most kHashStep on the hash worker's thread, as ranges
//    complete: on the event loop it slowed the receiving of every transfer (hash_worker.hpp).
//  - One failed range ends the attempt: the others stop (their bytes stay), the owner backs off
//    and retries as for any transfer, and the next attempt resumes every range. Except a range
//    that got no connection while others still run: it only waits for the next slot.
//  - A server that answers a range with 200 (ignores Range) makes the transfer fetch the file in
//    one stream from then on.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "daemon/transfer/transfer.hpp"
#include "daemon/transfer/transfer_io.hpp"

namespace pnsync {

bool Transfer::should_fetch_in_ranges() const {
  return !ranges_refused_ && context_.max_segments > 1 && file_.size &&
         *file_.size >= context_.segment_size;
}

std::int64_t Transfer::min_range_left() const {
  if (slow_range_left_ > 0) return slow_range_left_;
  const std::int64_t most = std::max<std::int64_t>(context_.segment_size / 8, 1);
  // At the end of a mirror the last ranges run on while the slots the others left idle. A range
  // of kTailRangeSeconds at the rate ranges get here is worth its own request (a round trip and
  // the server's check, a fraction of that) even when it is below segment_size / 8: on
  // physionet.org's ~0.65 MB/s a connection that is 1.3 MB, not 8 MiB (12 s of a tail).
  constexpr double kTailRangeSeconds = 1.0;
  constexpr std::int64_t kLeastRange = std::int64_t{1} << 20;
  const auto rate = range_rate();
  if (!rate) return most;
  return std::min(most,
                  std::max(kLeastRange, static_cast<std::int64_t>(*rate * kTailRangeSeconds)));
}

std::optional<double> Transfer::range_rate() const {
  if (!plan_) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  double total = 0;
  int counted = 0;
  for (const auto& fetch : fetches_) {
    const std::chrono::duration<double> ran = now - fetch->sent_at;
    if (!fetch->request || ran < std::chrono::seconds{1}) continue;
    total +=
        static_cast<double>(plan_->range(fetch->index).next - fetch->requested_from) / ran.count();
    ++counted;
  }
  if (counted == 0) return std::nullopt;
  return total / counted;
}

std::optional<std::int64_t> Transfer::slow_stream_range() const {
  if (plan_ || !request_ || ranges_refused_ || context_.max_segments <= 1 || !file_.size)
    return std::nullopt;
  const SlowStreamSplit& slow = context_.slow_stream;
  const auto ran = std::chrono::steady_clock::now() - stream_sent_at_;
  if (ran < slow.judged_after || written_ <= resume_from_) return std::nullopt;
  const double rate =
      static_cast<double>(written_ - resume_from_) / std::chrono::duration<double>(ran).count();
  const auto left = static_cast<double>(*file_.size - written_);
  if (left < slow.left_seconds * rate) return std::nullopt;
  const auto least =
      std::max(slow.least_bytes, static_cast<std::int64_t>(slow.range_seconds * rate));
  if (left < 2.0 * static_cast<double>(least)) return std::nullopt;
  return least;
}

std::optional<SegmentPlan> Transfer::recorded_plan() {
  if (!file_.segments) return std::nullopt;
  plan_recorded_ = true;
  // A file the manifest lists may have no size in the store: only a response told it. Its
  // ranges then say it (they tile the file), and each response is checked against it
  // (accept_range_body): a file that changed size upstream starts over.
  auto plan = SegmentPlan::parse(*file_.segments, file_.size);
  if (!plan) {
    context_.log.warning(context_.tree.partial_name(file_.path) +
                         ": recorded byte ranges do not tile the file" +
                         (file_.size ? " of " + std::to_string(*file_.size) + " bytes" : "") +
                         "; fetching it again");
    partial_ = UniqueFd();
    context_.tree.remove_partial(file_.path);
    forget_plan();
    return plan;
  }
  if (!file_.size) file_.size = plan->size();
  return plan;
}

void Transfer::start_ranges() {
  struct stat info {};
  ::fstat(partial_.get(), &info);
  std::int64_t claimed = 0;
  for (const ByteRange& range : plan_->ranges())
    if (range.next > range.start) claimed = std::max(claimed, range.next);
  if (info.st_size < claimed) {
    // The plan says bytes are there that are not: trust none of them.
    context_.log.warning(context_.tree.partial_name(file_.path) + " holds " +
                         std::to_string(info.st_size) + " bytes, its ranges claim " +
                         std::to_string(claimed) + "; fetching it again");
    truncate_partial(0);
    plan_.emplace(*file_.size, 0);
    save_plan(true);
  }
  written_ = plan_->on_disk();
  reset_hash();
  ranges_mtime_.reset();
  enter(TransferState::Connecting);
  if (auto idle = idle_range()) launch_range(*idle, {}, true);
  hash_behind();
  if (fetches_.empty()) {
    // Nothing to fetch (every range done, e.g. after a read error): hash and publish from here.
    boost::asio::post(context_.io, [this, alive = std::weak_ptr<int>(alive_)] {
      if (alive.lock()) finish_ranges_if_done();
    });
  }
}

std::optional<std::size_t> Transfer::idle_range() const {
  const auto& ranges = plan_->ranges();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].done()) continue;
    const bool fetching = std::any_of(fetches_.begin(), fetches_.end(),
                                      [i](const auto& fetch) { return fetch->index == i; });
    if (!fetching) return i;
  }
  return std::nullopt;
}

bool Transfer::wants_range() const {
  // A plan may split before its first request is answered (Connecting) once the host is known to
  // answer ranges: its ranges are sent together then, none cut short.
  const bool presplit = plan_ && state_ == TransferState::Connecting && context_.ranges_honoured;
  if (state_ != TransferState::Downloading && !presplit) return false;
  if (!plan_) {
    // One stream whose size was unknown when it started (the manifest lists the file, the
    // listing had not come yet): the response told it.
    return request_ &&
           ((should_fetch_in_ranges() && *file_.size - written_ >= 2 * min_range_left()) ||
            slow_stream_range());
  }
  if (fetches_.empty() || fetches_.size() >= static_cast<std::size_t>(context_.max_segments))
    return false;
  if (idle_range()) return true;
  return std::any_of(plan_->ranges().begin(), plan_->ranges().end(),
                     [this](const ByteRange& r) { return r.left() >= 2 * min_range_left(); });
}

std::int64_t Transfer::spare_slot_worth() const {
  if (!wants_range()) return 0;
  if (!plan_) return (*file_.size - written_) / 2;
  if (auto idle = idle_range()) return plan_->range(*idle).left();
  return plan_->split_gives(min_range_left());
}

void Transfer::add_range(Scheduler::Slot slot) {
  if (!wants_range()) return;  // the slot goes back
  if (!plan_) {
    // Turn the stream into range 0: it stops and asks again from its last byte on disk (one
    // request more, once per large file), and the spare slot takes the back half.
    if (!should_fetch_in_ranges()) slow_range_left_ = slow_stream_range().value_or(0);
    context_.http.cancel(*request_);
    request_.reset();
    flush_writes();
    if (write_error_) return;  // reported by the next attempt
    plan_.emplace(*file_.size, written_);
    start_ranges();
  } else if (auto idle = idle_range()) {
    launch_range(*idle, std::move(slot), false);
    return;
  }
  if (auto back = plan_->split(min_range_left())) {
    save_plan(true);  // before any byte lands in the new range
    close_cut_connections();
    launch_range(*back, std::move(slot), false);
  }
}

void Transfer::close_cut_connections() {
  for (const auto& fetch : fetches_)
    if (fetch->request && fetch->requested_end > plan_->range(fetch->index).end)
      context_.http.close_connection_after(*fetch->request);
}

void Transfer::launch_range(std::size_t index, Scheduler::Slot slot, bool own_slot) {
  auto fetch = std::make_unique<RangeFetch>();
  fetch->index = index;
  fetch->own_slot = own_slot;
  fetch->slot = std::move(slot);
  fetches_.push_back(std::move(fetch));
  // The request goes out on the loop's next turn, so every split made in this one (the spare
  // slots taken at once) only moves the range's end: a request in flight that a split cuts short
  // is stopped at its new end, and what the server already sent beyond it (a window's worth,
  // queued in the path) still crosses the connection for nothing.
  if (send_posted_) return;
  send_posted_ = true;
  boost::asio::post(context_.io, [this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.lock()) send_ranges();
  });
}

void Transfer::send_ranges() {
  send_posted_ = false;
  for (auto& fetch : fetches_) {
    if (fetch->sent) continue;
    fetch->sent = true;
    RangeFetch& raw = *fetch;
    const ByteRange& range = plan_->range(raw.index);
    raw.requested_from = range.next;
    raw.requested_end = range.end;
    raw.sent_at = std::chrono::steady_clock::now();
    GetRequest request;
    request.url = url();
    request.range_from = raw.requested_from;
    request.range_to = raw.requested_end - 1;
    request.budgets = context_.budgets;
    request.on_body = [this, &raw](const ResponseInfo& info, std::string_view chunk) {
      return accept_range_body(raw, info, chunk);
    };
    raw.request = context_.http.get(std::move(request), [this, &raw](const HttpOutcome& outcome) {
      raw.request.reset();
      on_range_response(raw, outcome);
    });
  }
}

bool Transfer::accept_range_body(RangeFetch& fetch, const ResponseInfo& info,
                                 std::string_view chunk) {
  if (!fetch.body_started) {
    fetch.body_started = true;
    enter(TransferState::Downloading);
    if (info.status == 206) {
      const auto range =
          info.content_range ? parse_content_range(*info.content_range) : std::nullopt;
      if (range && range->total && *range->total != plan_->size()) {
        size_changed_ = *range->total;
        return false;
      }
      if (!range || range->first != fetch.requested_from) {
        fetch.rejected = true;
        return false;
      }
      context_.ranges_honoured = true;
    } else if (info.status == 200) {
      // The whole file: right for a range that starts at 0 (it stops at the range's end), of no
      // use for any other.
      if (fetch.requested_from != 0) {
        ranges_refused_ = true;
        fetch.rejected = true;
        return false;
      }
    } else {
      fetch.discarding = true;
    }
  }
  if (fetch.discarding) return true;
  const ByteRange& range = plan_->range(fetch.index);
  const std::int64_t room =
      std::max<std::int64_t>(0, range.left() - static_cast<std::int64_t>(fetch.pending.size()));
  const auto take = static_cast<std::size_t>(
      std::clamp<std::int64_t>(room, 0, static_cast<std::int64_t>(chunk.size())));
  fetch.pending.append(chunk.substr(0, take));
  if (context_.on_bytes) context_.on_bytes(static_cast<std::int64_t>(take));
  const bool full = static_cast<std::int64_t>(take) == room;
  if ((fetch.pending.size() >= kWriteBatch || full) && !flush_range(fetch)) return false;
  // Stop at the range's end when the request asked for more (the range was split meanwhile).
  return !(full && fetch.requested_end > range.end) && take == chunk.size();
}

bool Transfer::flush_range(RangeFetch& fetch) {
  if (fetch.pending.empty()) return !write_error_;
  ByteRange& range = plan_->range(fetch.index);
  // Never past the range's end (a split can move it): those bytes belong to the next range.
  if (static_cast<std::int64_t>(fetch.pending.size()) > range.left())
    fetch.pending.resize(static_cast<std::size_t>(range.left()));
  if (partial_ && !write_error_) {
    if (auto wrote = write_all(partial_.get(), fetch.pending,
                               context_.tree.partial_name(file_.path), range.next);
        !wrote) {
      write_error_ = wrote.error();
    } else {
      range.next += static_cast<std::int64_t>(fetch.pending.size());
      written_ += static_cast<std::int64_t>(fetch.pending.size());
    }
  }
  fetch.pending.clear();
  if (fetch.pending.capacity() > kWriteBatch) fetch.pending.shrink_to_fit();
  if (write_error_) return false;
  save_plan(false);
  hash_behind();
  return true;
}

void Transfer::on_range_response(RangeFetch& fetch, const HttpOutcome& outcome) {
  flush_range(fetch);
  const auto found = std::find_if(fetches_.begin(), fetches_.end(),
                                  [&fetch](const auto& f) { return f.get() == &fetch; });
  std::unique_ptr<RangeFetch> done = std::move(*found);
  fetches_.erase(found);
  if (outcome.info.last_modified) ranges_mtime_ = imf_time(outcome.info.last_modified);
  const ByteRange& range = plan_->range(done->index);
  const std::string where = outcome.url + ": ";

  if (write_error_) {
    fail_ranges(
        {AttemptOutcome::LocalError, write_error_->message, {}, {}, write_error_->errno_value});
    return;
  }
  if (size_changed_) {
    // The ranges were made for another size: nothing on disk can be trusted.
    const std::string message = where + "the file is now " + std::to_string(*size_changed_) +
                                " bytes, not " + std::to_string(plan_->size()) +
                                "; fetching it again";
    cancel_ranges();
    size_changed_.reset();
    file_.size.reset();
    finish(restart_from_scratch(AttemptOutcome::Retry, message));
    return;
  }
  if (done->rejected) {
    fail_ranges({AttemptOutcome::Retry,
                 ranges_refused_
                     ? where + "server ignored a range request (200); fetching it in one piece"
                     : where + "answer to the range request for bytes " +
                           std::to_string(done->requested_from) + "- starts elsewhere (" +
                           outcome.info.content_range.value_or("no Content-Range") + ")",
                 {},
                 {},
                 0});
    return;
  }
  if (!range.done()) {
    const long status = outcome.info.status;
    const Verdict verdict =
        classify(outcome.curl_code, status, outcome.info.retry_after.has_value());
    if (verdict == Verdict::Retry && !outcome.connected() && !fetches_.empty()) {
      // No connection (a connect that hung past connect_timeout: the host's ceiling) while the
      // other ranges still come: nothing was asked, so nothing is lost. The range waits for the
      // next slot a range of this file frees; the transfer's own slot asks again at once (it
      // queues for a connection the controller's lowered bound allows). Only when no range is
      // left running does the attempt fail as any other.
      context_.log.info(where + "no connection in time for bytes " +
                        std::to_string(done->requested_from) + "-" +
                        std::to_string(done->requested_end - 1) + " (" + outcome.curl_error +
                        "); the range waits for the next slot");
      if (done->own_slot) launch_range(done->index, {}, true);
      return;
    }
    if (verdict != Verdict::Success) {
      fail_ranges(failed_attempt(verdict, outcome, context_.retry_after_max));
    } else if (status != 200 && status != 206) {
      fail_ranges({AttemptOutcome::Fatal, where + "unexpected " + status_text(status), {}, {}, 0});
    } else {
      fail_ranges({AttemptOutcome::Retry,
                   where + "range ended at byte " + std::to_string(range.next) + " of " +
                       std::to_string(range.start) + "-" + std::to_string(range.end - 1),
                   {},
                   {},
                   0});
    }
    return;
  }
  // This range is complete: its slot takes the next range without a request, or (the transfer's
  // own slot) splits off the back of the widest one; a spare slot goes back to the scheduler.
  save_plan(false);
  if (auto idle = idle_range()) {
    launch_range(*idle, std::move(done->slot), done->own_slot);
  } else if (done->own_slot) {
    if (auto back = plan_->split(min_range_left())) {
      save_plan(true);
      close_cut_connections();
      launch_range(*back, {}, true);
    }
  }
  done.reset();
  hash_behind();
  finish_ranges_if_done();
}

void Transfer::finish_ranges_if_done() {
  if (!plan_ || !fetches_.empty() || hash_in_flight_ || state_ == TransferState::Verifying ||
      state_ == TransferState::Publishing)
    return;
  if (write_error_) {
    fail_ranges(
        {AttemptOutcome::LocalError, write_error_->message, {}, {}, write_error_->errno_value});
    return;
  }
  if (!plan_->complete() || hashed_ != plan_->size()) return;
  written_ = plan_->size();
  verify_and_publish(std::nullopt, ranges_mtime_);
}

void Transfer::save_plan(bool now) {
  if (!plan_ || !context_.save_segments) return;
  const auto clock = std::chrono::steady_clock::now();
  if (!now && clock - plan_saved_at_ < kSavePlanEvery) return;
  plan_saved_at_ = clock;
  plan_recorded_ = true;
  context_.save_segments(file_.id, plan_->on_disk(), plan_->serialize());
}

void Transfer::forget_plan() {
  plan_.reset();
  file_.segments.reset();
  reset_hash();
  if (plan_recorded_ && context_.save_segments) context_.save_segments(file_.id, 0, std::nullopt);
  plan_recorded_ = false;
}

void Transfer::cancel_ranges() {
  if (fetches_.empty()) return;
  for (auto& fetch : fetches_) {
    if (fetch->request) context_.http.cancel(*fetch->request);
    fetch->request.reset();
    flush_range(*fetch);  // what arrived stays for the next attempt
  }
  fetches_.clear();
  save_plan(true);
}

void Transfer::fail_ranges(AttemptResult result) {
  cancel_ranges();
  save_plan(true);
  if (ranges_refused_) {
    // One stream from byte 0 next time: keep only the gap-free prefix of what is on disk.
    const std::int64_t keep = plan_ ? plan_->contiguous() : 0;
    if (partial_) truncate_partial(keep);
    forget_plan();
    written_ = keep;
  }
  finish(std::move(result));
}

}  // namespace pnsync
