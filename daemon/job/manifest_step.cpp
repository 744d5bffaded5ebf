// SPDX-License-Identifier: MIT
#include "daemon/job/manifest_step.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <utility>

#include "daemon/net/http_policy.hpp"
#include "daemon/transfer/transfer_io.hpp"

namespace pnsync {

namespace {

constexpr std::int64_t kManifestLimit = std::int64_t{1} << 30;  // MIMIC-CXR-JPG's is 52 MB

}  // namespace

ManifestStep::ManifestStep(ManifestStepContext context, PassControl& pass,
                           std::function<void()> on_ready)
    : context_(std::move(context)), pass_(pass), on_ready_(std::move(on_ready)) {}

void ManifestStep::start() {
  fetch({});
}

std::optional<ManifestStep::Published> ManifestStep::published() {
  const auto record = context_.store.find_file(context_.mirror, kManifestName);
  if (!record || record->state != store::FileState::Verified || !record->size ||
      !record->actual_sha256 || !record->mtime)
    return std::nullopt;
  auto on_disk = context_.tree.stat_final(kManifestName);
  if (!on_disk || !on_disk->has_value()) return std::nullopt;  // dest wiped, or unreadable
  const struct stat& info = **on_disk;
  if (!S_ISREG(info.st_mode) || info.st_size != *record->size || info.st_mtime != *record->mtime)
    return std::nullopt;
  return Published{record->id, *record->size, *record->actual_sha256, *record->mtime};
}

void ManifestStep::fetch(RequestAttempt attempt) {
  auto started = ManifestDownload::start(context_.tree, kManifestLimit);
  if (!started) {
    pass_.stop(storage_status(started.error()), started.error().message);
    return;
  }
  auto download = std::make_shared<ManifestDownload>(std::move(*started));
  GetRequest request;
  request.url = context_.url;
  request.compressed = true;
  // nginx answers 304 only to the exact date it sent (if_modified_since exact).
  auto asked_about = published();
  if (asked_about) request.if_modified_since = asked_about->mtime;
  // Straight to the partial file: only a success's body is the manifest.
  request.on_body = [download](const ResponseInfo& info, std::string_view chunk) {
    return info.status < 200 || info.status > 299 || download->append(chunk);
  };
  pass_.send_listing_request(
      std::move(request),
      [this, download, attempt, asked_about = std::move(asked_about)](const HttpOutcome& outcome) {
        on_response(outcome, *download, attempt, asked_about);
      });
}

void ManifestStep::on_response(const HttpOutcome& outcome, ManifestDownload& download,
                               RequestAttempt attempt,
                               const std::optional<Published>& asked_about) {
  if (!pass_.running()) return;
  const long status = outcome.info.status;
  const Verdict verdict = classify(outcome.curl_code, status, outcome.info.retry_after.has_value());
  // A later attempt starts a new partial file; after a 304 the empty one is of no use.
  if (verdict != Verdict::Success || status == 304 || download.error() || download.too_large())
    context_.tree.remove_partial(kManifestName);
  // A failed write and a body over the limit both abort the transfer, which curl then reports
  // only as CURLE_WRITE_ERROR: say which it was.
  if (const auto& error = download.error()) {
    pass_.stop(storage_status(*error), error->message);
    return;
  }
  if (download.too_large()) {
    pass_.stop(JobStatus::Failed, outcome.url + ": larger than " +
                                      std::to_string(kManifestLimit >> 20) + " MiB; refused");
    return;
  }
  const std::string reason = describe_failure(outcome);
  if (pass_.stop_if_refused(status, reason)) return;
  if (verdict == Verdict::Retry || verdict == Verdict::RetryAfter) {
    if (!pass_.retry(attempt, outcome, [this](RequestAttempt next) { fetch(next); })) {
      pass_.stop(JobStatus::Failed,
                 reason + " (gave up after " + std::to_string(attempt.counted) + " attempts)");
      return;
    }
    context_.log.warning(reason + "; retrying");
    return;
  }
  if (verdict == Verdict::Fatal) {
    pass_.stop(JobStatus::Failed, reason);
    return;
  }
  // A pass refused by the server or its certificate leaves no file behind.
  if (!pass_.server_answered()) return;
  if (verdict == Verdict::NotFound) {
    context_.log.info(context_.mirror_name +
                      ": no SHA256SUMS.txt; every file will be verified by size");
    ready();
  } else if (status == 304) {
    adopt_unchanged(outcome, asked_about, attempt);
  } else {
    publish(outcome, download);
  }
}

void ManifestStep::ready() {
  done_ = true;
  on_ready_();
}

void ManifestStep::publish(const HttpOutcome& outcome, ManifestDownload& download) {
  // The manifest is itself a file of the tree, complete on disk: publish it now, off the loop (its
  // fsync may take long on network storage). Its entries are read back from it once the pass
  // knows which it wants.
  const auto modified = imf_time(outcome.info.last_modified);
  const std::int64_t size = download.size();
  std::string sha256 = download.sha256_hex();
  UniqueFd file = download.release_file();
  UniqueFd published(::fcntl(file.get(), F_DUPFD_CLOEXEC, 0));  // the publisher closes its own
  if (!published) {
    pass_.stop(JobStatus::LocalStorage, context_.tree.partial_name(kManifestName) +
                                            ": cannot duplicate: " + std::strerror(errno));
    return;
  }
  file_ = std::move(file);
  // The ticket, dropped with the step, keeps this completion from running after it.
  publish_ticket_ = context_.publisher.publish(
      {std::string(kManifestName), std::move(published), modified},
      [this, size, modified, sha256 = std::move(sha256)](const Result<void>& done) {
        if (!pass_.running()) return;
        if (!done) {
          pass_.stop(storage_status(done.error()), done.error().message);
          return;
        }
        pass_.run_guarded([&] {
          const store::DiscoveredFile manifest{std::string(kManifestName), size, std::nullopt,
                                               modified};
          context_.store.upsert_files(context_.mirror, std::span(&manifest, 1));
          if (auto record = context_.store.find_file(context_.mirror, kManifestName))
            pass_.record_verified({record->id, size, sha256, store::VerifyKind::Size});
          in_dest_ = true;
          ready();
        });
      });
}

void ManifestStep::adopt_unchanged(const HttpOutcome& outcome,
                                   const std::optional<Published>& asked_about,
                                   RequestAttempt attempt) {
  if (!asked_about) {
    pass_.stop(JobStatus::Failed,
               outcome.url + ": 304 Not Modified to a request without a condition");
    return;
  }
  const std::string name = (context_.dest / kManifestName).string();
  const auto ask_again = [this, attempt](const Published& record, const Error& why) {
    context_.log.warning(why.message + "; fetching SHA256SUMS.txt again without If-Modified-Since");
    // The record no longer vouches for the copy, so published() finds nothing and the next
    // request is plain: this cannot loop. A 200 records the new copy as verified again.
    context_.store.requeue(record.id);
    fetch(attempt);
  };
  auto copy = open_published_manifest(context_.tree, asked_about->size);
  UniqueFd reader;
  if (copy) reader = UniqueFd(::fcntl(copy->get(), F_DUPFD_CLOEXEC, 0));
  if (!copy || !reader) {
    ask_again(*asked_about, copy ? local_error("cannot read", name, errno) : copy.error());
    return;
  }
  // Its size and mtime alone would not show bytes edited or damaged since: the copy is hashed
  // whole.
  file_ = std::move(*copy);
  context_.hash_worker.hash(
      {std::move(reader), 0, asked_about->size, Sha256(), name},
      [this, alive = std::weak_ptr<int>(alive_), record = *asked_about, name, ask_again](
          Sha256 hasher, const Result<void>& read) {
        if (!alive.lock() || !pass_.running()) return;
        pass_.run_guarded([&] {
          if (!read || hasher.finish_hex() != record.sha256) {
            file_ = UniqueFd();
            ask_again(record, read ? Error{ErrorKind::Integrity,
                                           name + ": SHA-256 differs from the one recorded"}
                                   : read.error());
            return;
          }
          unchanged_ = true;
          in_dest_ = true;
          ready();
        });
      });
}

}  // namespace pnsync
