// SPDX-License-Identifier: MIT
#include "daemon/disk/publisher.hpp"

#include <boost/asio/post.hpp>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <vector>

namespace pnsync {

namespace {

// The production steps: LocalTree's own.
class TreeSteps final : public PublishSteps {
public:
  explicit TreeSteps(const LocalTree& tree) : tree_(tree) {}
  Result<void> seal(std::string_view rel, int partial_fd,
                    std::optional<std::int64_t> mtime) const override {
    return tree_.seal(rel, partial_fd, mtime);
  }
  Result<void> place(std::string_view rel, int partial_fd, DirtyDirs& dirty) const override {
    return tree_.place(rel, partial_fd, dirty);
  }
  Result<void> sync_dir(const std::string& name, int dir_fd) const override {
    return tree_.sync_dir(name, dir_fd);
  }

private:
  const LocalTree& tree_;
};

// Files placed in one commit; more wait for the next one. Bounds the linear DirtyDirs lookups.
constexpr std::size_t kMaxBatch = 256;

struct Job {
  std::uint64_t id = 0;
  PublishRequest request;
};

Error not_done(const std::string& rel) {
  return Error{ErrorKind::LocalStorage, rel + ": not published: pnsync is stopping", ECANCELED};
}

}  // namespace

// The io_context side. Touched only on the io_context's thread: by publish(), by tickets and by
// the handlers the workers post, so it needs no lock.
struct Publisher::Completions {
  std::unordered_map<std::uint64_t, Done> waiting;

  void complete(std::uint64_t id, Result<void> result) {
    auto found = waiting.find(id);
    if (found == waiting.end()) return;  // the ticket was dropped
    Done done = std::move(found->second);
    waiting.erase(found);
    done(std::move(result));
  }
};

// The threads. Everything shared between them (the two queues) is guarded by mutex_; a Job popped
// from a queue belongs to the one thread that popped it. Results leave only through report_,
// which posts to the io_context (thread-safe) and never touches Completions directly.
class Publisher::Workers {
public:
  using Report = std::function<void(std::uint64_t id, Result<void> result)>;

  Workers(const PublishSteps& steps, int sealers, Report report)
      : steps_(steps), report_(std::move(report)) {
    for (int i = 0; i < std::max(1, sealers); ++i)
      threads_.emplace_back([this](const std::stop_token& stop) { seal_loop(stop); });
    threads_.emplace_back([this](const std::stop_token& stop) { commit_loop(stop); });
  }
  ~Workers() { stop(); }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  void push(Job job) {
    {
      std::lock_guard lock(mutex_);
      if (!stopped_) {
        to_seal_.push_back(std::move(job));
        seal_wanted_.notify_one();
        return;
      }
    }
    report_(job.id, not_done(job.request.rel));
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    // Each thread finishes the step it is in (a seal, or a whole commit) and returns.
    for (auto& thread : threads_) thread.request_stop();
    for (auto& thread : threads_) thread.join();
    // No thread is left: whatever is still queued was never published.
    for (auto& job : to_seal_) report_(job.id, not_done(job.request.rel));
    for (auto& job : to_commit_) report_(job.id, not_done(job.request.rel));
    to_seal_.clear();
    to_commit_.clear();
  }

private:
  void seal_loop(const std::stop_token& stop) {
    while (true) {
      Job job;
      {
        std::unique_lock lock(mutex_);
        if (!seal_wanted_.wait(lock, stop, [this] { return !to_seal_.empty(); })) return;
        job = std::move(to_seal_.front());
        to_seal_.pop_front();
      }
      auto sealed = steps_.seal(job.request.rel, job.request.partial.get(), job.request.mtime);
      if (!sealed) {
        report_(job.id, sealed);
        continue;
      }
      std::lock_guard lock(mutex_);
      to_commit_.push_back(std::move(job));
      commit_wanted_.notify_one();
    }
  }

  void commit_loop(const std::stop_token& stop) {
    while (true) {
      std::vector<Job> batch;
      {
        std::unique_lock lock(mutex_);
        if (!commit_wanted_.wait(lock, stop, [this] { return !to_commit_.empty(); })) return;
        const auto take = std::min(to_commit_.size(), kMaxBatch);
        batch.assign(std::make_move_iterator(to_commit_.begin()),
                     std::make_move_iterator(to_commit_.begin() + static_cast<long>(take)));
        to_commit_.erase(to_commit_.begin(), to_commit_.begin() + static_cast<long>(take));
      }
      commit(batch);
    }
  }

  // Every file of the batch was sealed (fsynced) before it got here. Renames first, then one
  // fsync per dirtied directory, then the reports: none reports success before its directory
  // entry is durable.
  void commit(std::vector<Job>& batch) {
    DirtyDirs dirty;
    std::vector<std::optional<Error>> failed(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (auto placed = steps_.place(batch[i].request.rel, batch[i].request.partial.get(), dirty);
          !placed)
        failed[i] = placed.error();
      batch[i].request.partial = UniqueFd();  // renamed or not, the descriptor is done with
    }
    std::vector<std::pair<std::string, Error>> unsynced;
    for (const auto& [name, fd] : dirty.entries())
      if (auto synced = steps_.sync_dir(name, fd.get()); !synced)
        unsynced.emplace_back(name, synced.error());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const std::string& rel = batch[i].request.rel;
      // A directory that failed to sync fails every file below it; that may include a file whose
      // own directory synced, which errs on the side of not marking it verified.
      for (const auto& [name, error] : unsynced)
        if (!failed[i] && rel.starts_with(name)) failed[i] = error;
      report_(batch[i].id, failed[i] ? Result<void>(*failed[i]) : Result<void>());
    }
  }

  const PublishSteps& steps_;
  Report report_;
  std::mutex mutex_;
  std::condition_variable_any seal_wanted_;
  std::condition_variable_any commit_wanted_;
  std::deque<Job> to_seal_;            // guarded by mutex_
  std::vector<Job> to_commit_;         // sealed, waiting for a commit; guarded by mutex_
  bool stopped_ = false;               // guarded by mutex_
  std::vector<std::jthread> threads_;  // last: joined before anything above is destroyed
};

Publisher::Publisher(boost::asio::io_context& io, const LocalTree& tree, PublisherSettings settings)
    : owned_steps_(std::make_unique<TreeSteps>(tree)),
      completions_(std::make_shared<Completions>()) {
  start_workers(io, *owned_steps_, settings);
}

Publisher::Publisher(boost::asio::io_context& io, const PublishSteps& steps,
                     PublisherSettings settings)
    : completions_(std::make_shared<Completions>()) {
  start_workers(io, steps, settings);
}

void Publisher::start_workers(boost::asio::io_context& io, const PublishSteps& steps,
                              PublisherSettings settings) {
  std::weak_ptr<Completions> weak = completions_;
  workers_ = std::make_unique<Workers>(
      steps, settings.sealers, [&io, weak](std::uint64_t id, Result<void> result) {
        boost::asio::post(io, [weak, id, result = std::move(result)]() mutable {
          if (auto completions = weak.lock()) completions->complete(id, std::move(result));
        });
      });
}

Publisher::~Publisher() {
  stop();
}

PublishTicket Publisher::publish(PublishRequest request, Done done) {
  const std::uint64_t id = next_id_++;
  completions_->waiting.emplace(id, std::move(done));
  workers_->push({id, std::move(request)});
  return PublishTicket(completions_, id);
}

std::size_t Publisher::in_flight() const {
  return completions_->waiting.size();
}

void Publisher::stop() {
  workers_->stop();
}

PublishTicket::~PublishTicket() {
  reset();
}

PublishTicket& PublishTicket::operator=(PublishTicket&& other) noexcept {
  if (this != &other) {
    reset();
    completions_ = std::move(other.completions_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void PublishTicket::reset() {
  if (auto completions = completions_.lock(); completions && id_ != 0)
    completions->waiting.erase(id_);
  completions_.reset();
  id_ = 0;
}

}  // namespace pnsync
