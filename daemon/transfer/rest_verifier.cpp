// SPDX-License-Identifier: MIT
#include "daemon/transfer/rest_verifier.hpp"

#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "daemon/disk/sha256.hpp"

namespace pnsync {

namespace {

constexpr std::size_t kBatch = 64;
constexpr auto kBatchAge = std::chrono::seconds(1);

}  // namespace

RestVerifier::RestVerifier(boost::asio::io_context& io, const LocalTree& tree,
                           std::vector<RestCheck> files, OnFindings on_findings,
                           std::function<void()> on_done)
    : io_(io),
      tree_(tree),
      on_findings_(std::move(on_findings)),
      on_done_(std::move(on_done)),
      total_(static_cast<std::int64_t>(files.size())),
      thread_([this, files = std::move(files)](const std::stop_token& stop) { run(stop, files); }) {
}

RestVerifier::~RestVerifier() {
  alive_->store(false);
  thread_.request_stop();
  // jthread joins here: the worker reads tree_ and this object's members until it returns.
}

std::optional<std::string> RestVerifier::check(const RestCheck& file) const {
  auto info = tree_.stat_final(file.path);
  if (!info) return info.error().message;
  if (!info->has_value() || !S_ISREG((*info)->st_mode)) return std::string("missing");
  const auto size = static_cast<std::int64_t>((*info)->st_size);
  if (file.size && size != *file.size)
    return "size " + std::to_string(size) + " instead of " + std::to_string(*file.size);
  if (!file.sha256) return std::nullopt;  // a size is all that was ever known
  auto fd = tree_.open_final(file.path);
  if (!fd) return fd.error().message;
  Sha256 hasher;
  if (auto read = hash_file_prefix(fd->get(), size, hasher, file.path); !read)
    return read.error().message;
  if (hasher.finish_hex() != *file.sha256) return std::string("SHA-256 differs");
  return std::nullopt;
}

void RestVerifier::run(const std::stop_token& stop, const std::vector<RestCheck>& files) {
  std::vector<RestFinding> batch;
  auto batch_started = std::chrono::steady_clock::now();
  const auto post_batch = [&] {
    boost::asio::post(io_, [alive = alive_, this, found = std::move(batch)]() mutable {
      if (alive->load()) on_findings_(std::move(found));
    });
    batch = {};
    batch_started = std::chrono::steady_clock::now();
  };
  for (const auto& file : files) {
    if (stop.stop_requested()) break;
    if (auto problem = check(file)) batch.push_back({file.id, file.path, std::move(*problem)});
    checked_.fetch_add(1, std::memory_order_relaxed);
    if (batch.size() >= kBatch ||
        (!batch.empty() && std::chrono::steady_clock::now() - batch_started > kBatchAge))
      post_batch();
  }
  post_batch();
  boost::asio::post(io_, [alive = alive_, this] {
    if (alive->load()) on_done_();
  });
}

}  // namespace pnsync
