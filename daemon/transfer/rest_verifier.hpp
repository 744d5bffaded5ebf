// SPDX-License-Identifier: MIT
// Verify at rest (`pnsyncctl verify`): hashes every verified file on disk again and compares it
// with the manifest, or with the hash stored when it was fetched, to catch bit rot and tampering.
// Hashing terabytes takes hours, so it runs on a worker thread; findings come back to the event
// loop in batches and the loop thread alone touches the store.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/disk/local_tree.hpp"
#include "store/store.hpp"

namespace pnsync {

struct RestCheck {
  store::FileId id = 0;
  std::string path;
  std::optional<std::int64_t> size;
  std::optional<std::string> sha256;  // the manifest's, else the one computed when fetched
};

struct RestFinding {
  store::FileId id = 0;
  std::string path;
  std::string problem;  // "missing", "size 12 instead of 40", "SHA-256 differs from the manifest"
};

class RestVerifier {
public:
  using OnFindings = std::function<void(std::vector<RestFinding>)>;
  // Starts at once. `on_findings` runs on `io` (possibly with an empty batch at the end), then
  // `on_done` once every file was checked or stop() was called.
  RestVerifier(boost::asio::io_context& io, const LocalTree& tree, std::vector<RestCheck> files,
               OnFindings on_findings, std::function<void()> on_done);
  // Stops and joins the worker; nothing is posted after it returns.
  ~RestVerifier();
  RestVerifier(const RestVerifier&) = delete;
  RestVerifier& operator=(const RestVerifier&) = delete;

  void stop() { thread_.request_stop(); }
  std::int64_t files_checked() const { return checked_.load(std::memory_order_relaxed); }
  std::int64_t files_total() const { return total_; }

private:
  void run(const std::stop_token& stop, const std::vector<RestCheck>& files);
  std::optional<std::string> check(const RestCheck& file) const;

  boost::asio::io_context& io_;
  const LocalTree& tree_;
  OnFindings on_findings_;
  std::function<void()> on_done_;
  std::int64_t total_ = 0;
  std::atomic<std::int64_t> checked_{0};
  // Guards the handlers posted to the loop against running after this object is gone.
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
  std::jthread thread_;  // last: started after every member it reads is ready
};

}  // namespace pnsync
