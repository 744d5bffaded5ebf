// SPDX-License-Identifier: MIT
#include "daemon/disk/hash_worker.hpp"

#include <fcntl.h>
#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace pnsync {

class HashWorker::Thread {
public:
  explicit Thread(boost::asio::io_context& io) : io_(io), thread_([this] { run(); }) {}

  ~Thread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;

  void add(HashJob job, Done done) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({std::move(job), std::move(done), boost::asio::make_work_guard(io_)});
    }
    wake_.notify_one();
  }

private:
  void run() {
    ::pthread_setname_np(::pthread_self(), "pnsync-hash");  // for top -H and perf
    for (;;) {
      std::optional<Queued> next;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;  // jobs not started are dropped with their completions
        next.emplace(std::move(queue_.front()));
        queue_.pop_front();
      }
      auto& [job, done, work] = *next;
      Result<void> read =
          hash_file_range(job.file.get(), job.from, job.length, job.hasher, job.name);
      // Only a hint: it does not make the bytes durable (the seal's fsync does, and reports any
      // error), so a file system that refuses it changes nothing. It may block while the
      // device's queue is full, which paces hashing to the disk rather than the event loop.
      if (read && job.write_back)
        (void)::sync_file_range(job.file.get(), job.from, job.length, SYNC_FILE_RANGE_WRITE);
      job.file = UniqueFd();
      boost::asio::post(
          io_, [done = std::move(done), hasher = std::move(job.hasher), read = std::move(read),
                work = std::move(work)]() mutable { done(std::move(hasher), std::move(read)); });
    }
  }

  // A job keeps the io_context's run() going until its completion has run: the loop may have
  // nothing else to wait for (the last file of a pass, hashing its last range).
  using Work = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  struct Queued {
    HashJob job;
    Done done;
    Work work;
  };

  boost::asio::io_context& io_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: it starts running once everything above exists
};

HashWorker::HashWorker(boost::asio::io_context& io) : io_(io) {}

HashWorker::~HashWorker() = default;

void HashWorker::hash(HashJob job, Done done) {
  if (!thread_) thread_ = std::make_unique<Thread>(io_);
  thread_->add(std::move(job), std::move(done));
}

}  // namespace pnsync
