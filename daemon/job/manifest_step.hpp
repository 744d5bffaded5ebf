// SPDX-License-Identifier: MIT
// The first step of a mirror pass: SHA256SUMS.txt.
//
// The request carries If-Modified-Since when dest holds the copy the store vouches for (a verified
// record whose size and mtime match the file on disk), with the server's own Last-Modified, so
// that clocks never disagree. Then:
//  - 200: the body, streamed to the manifest's partial file, is published into dest on the
//    publisher's threads and recorded as verified;
//  - 304: the copy in dest is kept once it hashes (on the hash worker: a manifest of a million
//    files is over 100 MB) to the SHA-256 recorded, else it is asked for again without the
//    condition;
//  - 404: the server has none, and every file is verified by size;
//  - a failure goes to the pass (PassControl), which retries or stops.
// The step then keeps the manifest open for the reads the pass makes of it (the tables `select`
// reads, then the entries the selection wants).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/log.hpp"
#include "daemon/disk/hash_worker.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/disk/publisher.hpp"
#include "daemon/job/pass_control.hpp"
#include "daemon/listing/manifest_file.hpp"
#include "store/store.hpp"

namespace pnsync {

// What the step works with; the pass owns all of it and outlives the step.
struct ManifestStepContext {
  Log& log;
  store::Store& store;
  store::MirrorId mirror = 0;
  const LocalTree& tree;
  Publisher& publisher;
  HashWorker& hash_worker;
  std::string url;          // of SHA256SUMS.txt
  std::string mirror_name;  // for messages
  std::filesystem::path dest;
};

class ManifestStep {
public:
  // `on_ready` runs once, when the step is over: file() is then open on the manifest, or closed
  // when the server has none. It does not run when the pass stops first.
  ManifestStep(ManifestStepContext context, PassControl& pass, std::function<void()> on_ready);
  ~ManifestStep() = default;
  ManifestStep(const ManifestStep&) = delete;
  ManifestStep& operator=(const ManifestStep&) = delete;
  ManifestStep(ManifestStep&&) = delete;
  ManifestStep& operator=(ManifestStep&&) = delete;

  void start();
  bool done() const { return done_; }
  // The manifest as dest holds it, open for reading until close_file().
  const UniqueFd& file() const { return file_; }
  void close_file() { file_ = UniqueFd(); }
  // The server answered 304: the entries come from the copy a previous pass published.
  bool unchanged() const { return unchanged_; }
  // This pass fetched or confirmed SHA256SUMS.txt in dest: its row belongs to this step, whose
  // mtime is the exact Last-Modified that If-Modified-Since sends back.
  bool in_dest() const { return in_dest_; }

private:
  // SHA256SUMS.txt in dest as the store vouches for it.
  struct Published {
    store::FileId id = 0;
    std::int64_t size = 0;
    std::string sha256;
    std::int64_t mtime = 0;
  };
  std::optional<Published> published();
  void fetch(RequestAttempt attempt);
  void on_response(const HttpOutcome& outcome, ManifestDownload& download, RequestAttempt attempt,
                   const std::optional<Published>& asked_about);
  void publish(const HttpOutcome& outcome, ManifestDownload& download);
  void adopt_unchanged(const HttpOutcome& outcome, const std::optional<Published>& asked_about,
                       RequestAttempt attempt);
  void ready();

  ManifestStepContext context_;
  PassControl& pass_;
  std::function<void()> on_ready_;
  UniqueFd file_;
  PublishTicket publish_ticket_;  // while the publisher has the manifest
  bool done_ = false;
  bool unchanged_ = false;
  bool in_dest_ = false;
  // Hash completions hold a weak reference: one may reach the loop after the step is gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pnsync
