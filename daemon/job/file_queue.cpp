// SPDX-License-Identifier: MIT
#include "daemon/job/file_queue.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <utility>

namespace pnsync {

namespace {

constexpr int kMaxChecksumMismatches = 3;

}  // namespace

FileQueue::FileQueue(FileQueueContext context, PassControl& pass, FileQueueEvents events)
    : context_(std::move(context)), pass_(pass), events_(std::move(events)) {}

void FileQueue::enqueue(const store::FileRecord& file) {
  if (files_.contains(file.path)) return;
  Pending pending;
  pending.attempts = file.attempts;
  pending.mismatches = file.checksum_mismatches;
  files_.emplace(file.path, std::move(pending));
  submit(file.path);
}

void FileQueue::forget(const std::string& path) {
  auto found = files_.find(path);
  if (found == files_.end()) return;
  if (found->second.transfer) found->second.transfer->cancel();
  found->second.slot.release();
  files_.erase(found);
}

void FileQueue::release_slot(const std::string& path) {
  if (auto found = files_.find(path); found != files_.end()) found->second.slot.release();
}

void FileQueue::cancel_all() {
  for (auto& [path, pending] : files_) {
    if (pending.transfer) pending.transfer->cancel();
    pending.slot.release();
  }
}

void FileQueue::submit(const std::string& path) {
  context_.scheduler.submit(Lane::File,
                            [this, owner = context_.owner.lock(), path](Scheduler::Slot slot) {
                              pass_.run_guarded([&] { start(path, std::move(slot)); });
                            });
}

void FileQueue::start(const std::string& path, Scheduler::Slot slot) {
  auto found = files_.find(path);
  if (!pass_.running() || found == files_.end()) return;
  Pending& pending = found->second;
  if (!pending.transfer && !make_transfer(path, pending)) return;
  pending.slot = std::move(slot);
  pending.transfer->start();
}

bool FileQueue::make_transfer(const std::string& path, Pending& pending) {
  // From the store as it is now: a listing that came after the file was queued may have given
  // its size.
  auto record = context_.store.find_file(context_.mirror, path);
  if (!record) {
    // Forgotten meanwhile (no longer listed upstream); no Transfer to call back from.
    files_.erase(path);
    events_.changed();
    return false;
  }
  pending.transfer =
      std::make_unique<Transfer>(context_.transfers, std::move(*record),
                                 [this](Transfer& transfer, const AttemptResult& result) {
                                   pass_.run_guarded([&] { on_attempt_done(transfer, result); });
                                 });
  return true;
}

int FileQueue::ranges_wanted() const {
  if (!pass_.running()) return 0;
  return static_cast<int>(std::count_if(files_.begin(), files_.end(), [](const auto& entry) {
    return entry.second.transfer && entry.second.transfer->wants_range();
  }));
}

void FileQueue::offer_spare_slots() {
  if (!pass_.running()) return;
  // Each slot to the file whose new range would fetch the most: at the end of a mirror, the
  // largest ranges left decide when it ends (a file first in path order would otherwise take
  // every slot for small splits while another's large range waits).
  while (true) {
    Transfer* neediest = nullptr;
    std::int64_t most = 0;
    for (auto& [path, pending] : files_) {
      if (!pending.transfer) continue;
      if (const std::int64_t worth = pending.transfer->spare_slot_worth(); worth > most) {
        most = worth;
        neediest = pending.transfer.get();
      }
    }
    if (!neediest) return;
    auto slot = context_.scheduler.try_acquire(Lane::File);
    if (!slot) return;
    neediest->add_range(std::move(*slot));
  }
}

std::vector<InFlightFile> FileQueue::in_flight() const {
  std::vector<InFlightFile> files;
  for (const auto& [path, pending] : files_) {
    if (!pending.transfer) continue;  // queued, not started yet
    const Transfer& transfer = *pending.transfer;
    if (transfer.checking_local()) {
      files.push_back({path, transfer.bytes_checked(), transfer.file().size, 1, true});
      continue;
    }
    const TransferState state = transfer.state();
    if (state != TransferState::Connecting && state != TransferState::Downloading) continue;
    files.push_back({path, transfer.bytes_on_disk(), transfer.file().size,
                     std::max<int>(1, static_cast<int>(transfer.ranges_in_flight()))});
  }
  return files;
}

void FileQueue::give_up(const std::string& path, const std::string& message) {
  context_.log.error("failed: " + message);
  given_up_.insert(path);
  drop_later(path);
}

void FileQueue::drop_later(const std::string& path) {
  boost::asio::post(context_.io, [this, owner = context_.owner.lock(), path] {
    files_.erase(path);
    pass_.run_guarded([&] { events_.changed(); });
  });
}

void FileQueue::retry_later(const std::string& path, int attempt,
                            std::optional<std::chrono::seconds> retry_after) {
  context_.retries.wait(attempt, retry_after,
                        [this, owner = context_.owner.lock(), path](bool due) {
                          pass_.run_guarded([&] {
                            if (due && pass_.running()) submit(path);
                            events_.changed();
                          });
                        });
}

void FileQueue::on_attempt_done(Transfer& transfer, const AttemptResult& result) {
  const std::string path = transfer.file().path;
  auto& pending = files_.at(path);
  pending.slot.release();
  if (!pass_.running()) return;
  const store::FileId id = transfer.file().id;
  switch (result.outcome) {
    case AttemptOutcome::Verified:
      events_.verified(result);
      drop_later(path);
      return;
    case AttemptOutcome::Retry:
      if (!result.connected && ++pending.not_connected < kMaxNotConnected) {
        context_.log.debug(result.message + "; retrying (not connected " +
                           std::to_string(pending.not_connected) + " times)");
        transfer.enter(TransferState::Backoff);
        retry_later(path, std::min(pending.not_connected, 3), std::nullopt);
        return;
      }
      [[fallthrough]];
    case AttemptOutcome::RetryAfter: {
      ++pending.attempts;
      const bool last = pending.attempts >= context_.max_attempts;
      context_.store.record_attempt_error(id, result.message, last);
      if (last) {
        give_up(path,
                result.message + " (after " + std::to_string(pending.attempts) + " attempts)");
        return;
      }
      context_.log.debug(result.message + "; retrying");
      transfer.enter(TransferState::Backoff);
      retry_later(path, pending.attempts, result.retry_after);
      return;
    }
    case AttemptOutcome::ChecksumMismatch: {
      ++pending.mismatches;
      const bool last = pending.mismatches >= kMaxChecksumMismatches;
      context_.store.record_checksum_mismatch(id, result.message, last);
      if (last) {
        give_up(path, result.message + " (" + std::to_string(pending.mismatches) + " mismatches)");
        return;
      }
      context_.log.warning(result.message + "; fetching it again");
      submit(path);
      return;
    }
    case AttemptOutcome::NotFound:
    case AttemptOutcome::Fatal:
      context_.store.record_attempt_error(id, result.message, true);
      give_up(path, result.message);
      return;
    case AttemptOutcome::IsDirectory:
      context_.store.forget_file(id);
      // Listed before the transfer goes, so the pass never looks finished in between.
      events_.is_directory(path + "/");
      drop_later(path);
      return;
    case AttemptOutcome::AuthFailed:
      pass_.stop_if_refused(401, result.message);
      return;
    case AttemptOutcome::AccessDenied:
      pass_.stop_if_refused(403, result.message);
      return;
    case AttemptOutcome::LocalError:
      context_.store.record_attempt_error(id, result.message, false);
      // The partial file keeps what was written: the next pass resumes from there.
      pass_.stop(result.errno_value == ENOSPC || result.errno_value == EDQUOT
                     ? JobStatus::NoSpace
                     : JobStatus::LocalStorage,
                 result.message);
      return;
  }
}

}  // namespace pnsync
