// SPDX-License-Identifier: MIT
// Publishes verified partial files off the event loop. fsync, rename and directory fsync can each
// block for milliseconds; on the Asio thread, which also drives curl, that stalls every transfer.
// The publisher runs LocalTree's three publishing steps (seal, place, sync_dir) on its own threads
// and posts each file's result back to the io_context.
//
// Threads and ordering:
//  - `sealers` threads (default 4) each take one file at a time and seal it: group, mode, mtime,
//    fsync. Several fsyncs in flight let the filesystem share journal commits between them.
//  - One commit thread takes every sealed file waiting (a batch), places each one (mkdir and
//    rename), then fsyncs each directory the batch dirtied once, and only then posts the batch's
//    completions. So for every file: fsync(file) < rename < fsync(dir) < completion, and the
//    caller's database commit comes after the completion: a file is never marked verified before
//    its final name is durable. Files of one batch sharing a directory share its fsync.
//  - Completions run on the io_context. Their order between files is unspecified.
//
// Shutdown: stop() (also run by the destructor) lets each thread finish the step it is in, then
// reports every file not yet complete as not done (ECANCELED) and joins the threads. A file
// reported not done may or may not already be under its final name; both are safe, since the next
// pass adopts a complete final copy or publishes a complete partial file without the network.
//
// Lifetime: publish() returns a PublishTicket; dropping it (e.g. a Transfer destroyed or cancelled
// while its file is being published) guarantees the completion is never called. Completions that
// reach the loop after the publisher is gone find nothing (they hold only a weak reference).
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "daemon/disk/local_tree.hpp"

namespace pnsync {

// What the publisher needs from the destination: LocalTree's publishing steps, in the order
// documented there. Tests implement it to record the order of calls and to inject failures.
class PublishSteps {
public:
  virtual ~PublishSteps() = default;
  virtual Result<void> seal(std::string_view rel, int partial_fd,
                            std::optional<std::int64_t> mtime) const = 0;
  virtual Result<void> place(std::string_view rel, int partial_fd, DirtyDirs& dirty) const = 0;
  virtual Result<void> sync_dir(const std::string& name, int dir_fd) const = 0;
};

struct PublishRequest {
  std::string rel;   // the final path below dest
  UniqueFd partial;  // the complete, verified partial file; closed once published
  std::optional<std::int64_t> mtime;
};

struct PublisherSettings {
  int sealers = 4;  // threads that fsync files; at least 1
};

class PublishTicket;

class Publisher {
public:
  // Called on the io_context with the outcome for one file; an error names the path.
  using Done = std::function<void(Result<void>)>;

  // Publishes into `tree`, which must outlive the publisher.
  Publisher(boost::asio::io_context& io, const LocalTree& tree, PublisherSettings settings = {});
  Publisher(boost::asio::io_context& io, const PublishSteps& steps,
            PublisherSettings settings = {});
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Queues one file. Call on the io_context's thread. `done` is always called later, never from
  // inside, unless the ticket is dropped first.
  [[nodiscard]] PublishTicket publish(PublishRequest request, Done done);
  // Files handed over whose completion is still to run (call on the io_context's thread).
  std::size_t in_flight() const;
  // Finishes the steps in progress, reports the rest as not done, joins the threads. Idempotent.
  void stop();

  struct Completions;  // the io_context side; in publisher.cpp
  class Workers;       // the threads; in publisher.cpp

private:
  void start_workers(boost::asio::io_context& io, const PublishSteps& steps,
                     PublisherSettings settings);

  std::unique_ptr<PublishSteps> owned_steps_;  // the LocalTree adapter, when given a tree
  // Shared so that handlers posted by the workers can hold a weak reference.
  std::shared_ptr<Completions> completions_;
  std::unique_ptr<Workers> workers_;
  std::uint64_t next_id_ = 1;
};

// Keeps a publish's completion wanted. Move-only; destroying it (on the io_context's thread)
// cancels the completion, not the publishing itself.
class PublishTicket {
public:
  PublishTicket() = default;
  PublishTicket(std::weak_ptr<Publisher::Completions> completions, std::uint64_t id)
      : completions_(std::move(completions)), id_(id) {}
  ~PublishTicket();
  PublishTicket(PublishTicket&& other) noexcept
      : completions_(std::move(other.completions_)), id_(std::exchange(other.id_, 0)) {}
  PublishTicket& operator=(PublishTicket&& other) noexcept;
  PublishTicket(const PublishTicket&) = delete;
  PublishTicket& operator=(const PublishTicket&) = delete;

private:
  void reset();
  std::weak_ptr<Publisher::Completions> completions_;
  std::uint64_t id_ = 0;
};

}  // namespace pnsync
