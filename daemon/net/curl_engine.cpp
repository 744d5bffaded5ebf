// SPDX-License-Identifier: MIT
#include "daemon/net/curl_engine.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace pnsync {

namespace asio = boost::asio;

namespace {

struct SocketWatch {
  explicit SocketWatch(asio::io_context& io, curl_socket_t fd) : descriptor(io, fd) {}
  asio::posix::stream_descriptor descriptor;
  int wanted = 0;  // CURL_POLL_IN / OUT / INOUT
  bool read_armed = false;
  bool write_armed = false;
};

}  // namespace

struct CurlEngine::Impl : std::enable_shared_from_this<CurlEngine::Impl> {
  explicit Impl(asio::io_context& io_context) : io(io_context), timer(io_context) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  asio::io_context& io;
  curl::Multi multi{curl_multi_init()};
  asio::steady_timer timer;
  // curl owns the file descriptors; the watches only borrow them (release() before destruction).
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketWatch>> watches;
  struct Active {
    curl::Easy easy;
    Completion done;
  };
  std::unordered_map<CURL*, Active> active;

  void install_callbacks() {
    if (!multi) throw std::runtime_error("curl_multi_init failed");
    curl_multi_setopt(multi.get(), CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(multi.get(), CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi.get(), CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
    curl_multi_setopt(multi.get(), CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  }

  ~Impl() {
    // No callbacks into a half-destroyed engine while curl lets go of its handles.
    curl_multi_setopt(multi.get(), CURLMOPT_SOCKETFUNCTION, nullptr);
    curl_multi_setopt(multi.get(), CURLMOPT_TIMERFUNCTION, nullptr);
    for (auto& [easy, transfer] : active) curl_multi_remove_handle(multi.get(), easy);
    for (auto& [fd, watch] : watches) forget(*watch);
  }

  static void forget(SocketWatch& watch) {
    boost::system::error_code ignored;
    watch.descriptor.cancel(ignored);
    watch.descriptor.release();
  }

  static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
    static_cast<Impl*>(self)->update_watch(fd, what);
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* self) {
    static_cast<Impl*>(self)->arm_timer(timeout_ms);
    return 0;
  }

  void update_watch(curl_socket_t fd, int what) {
    if (what == CURL_POLL_REMOVE) {
      if (auto found = watches.find(fd); found != watches.end()) {
        forget(*found->second);
        watches.erase(found);
      }
      return;
    }
    auto& watch = watches[fd];
    if (!watch) watch = std::make_shared<SocketWatch>(io, fd);
    if (watch->wanted != what) {
      // Drop waits for a direction curl no longer wants; their handlers see operation_aborted.
      boost::system::error_code ignored;
      watch->descriptor.cancel(ignored);
      watch->read_armed = watch->write_armed = false;
      watch->wanted = what;
    }
    arm(fd, watch);
  }

  void arm(curl_socket_t fd, const std::shared_ptr<SocketWatch>& watch) {
    std::weak_ptr<Impl> weak_self = shared_from_this();
    std::weak_ptr<SocketWatch> weak_watch = watch;
    if ((watch->wanted & CURL_POLL_IN) && !watch->read_armed) {
      watch->read_armed = true;
      watch->descriptor.async_wait(
          asio::posix::stream_descriptor::wait_read,
          [weak_self, weak_watch, fd](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted) return;
            auto self = weak_self.lock();
            auto watch = weak_watch.lock();
            if (!self || !watch) return;
            watch->read_armed = false;
            self->socket_ready(fd, ec ? CURL_CSELECT_ERR : CURL_CSELECT_IN);
          });
    }
    if ((watch->wanted & CURL_POLL_OUT) && !watch->write_armed) {
      watch->write_armed = true;
      watch->descriptor.async_wait(
          asio::posix::stream_descriptor::wait_write,
          [weak_self, weak_watch, fd](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted) return;
            auto self = weak_self.lock();
            auto watch = weak_watch.lock();
            if (!self || !watch) return;
            watch->write_armed = false;
            self->socket_ready(fd, ec ? CURL_CSELECT_ERR : CURL_CSELECT_OUT);
          });
    }
  }

  void socket_ready(curl_socket_t fd, int events) {
    int running = 0;
    curl_multi_socket_action(multi.get(), fd, events, &running);
    finish_done_transfers();
    // Level-triggered: keep waiting while curl still wants this socket.
    if (auto found = watches.find(fd); found != watches.end()) arm(fd, found->second);
  }

  void arm_timer(long timeout_ms) {
    timer.cancel();
    if (timeout_ms < 0) return;
    std::weak_ptr<Impl> weak_self = shared_from_this();
    if (timeout_ms == 0) {
      // Never call socket_action from inside a curl callback: defer to the loop.
      asio::post(io, [weak_self] {
        if (auto self = weak_self.lock()) self->timeout_expired();
      });
      return;
    }
    timer.expires_after(std::chrono::milliseconds(timeout_ms));
    timer.async_wait([weak_self](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak_self.lock()) self->timeout_expired();
    });
  }

  void timeout_expired() {
    int running = 0;
    curl_multi_socket_action(multi.get(), CURL_SOCKET_TIMEOUT, 0, &running);
    finish_done_transfers();
  }

  void finish_done_transfers() {
    // Collect first: a completion may start or cancel other transfers.
    std::vector<std::pair<CURL*, CURLcode>> done;
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi.get(), &queued)) {
      if (message->msg == CURLMSG_DONE)
        done.emplace_back(message->easy_handle, message->data.result);
    }
    for (auto [easy, result] : done) {
      auto found = active.find(easy);
      if (found == active.end()) continue;
      Active finished = std::move(found->second);
      active.erase(found);
      curl_multi_remove_handle(multi.get(), easy);
      finished.done(easy, result);
    }
  }
};

CurlEngine::CurlEngine(asio::io_context& io) : impl_(std::make_shared<Impl>(io)) {
  impl_->install_callbacks();
}

CurlEngine::~CurlEngine() = default;

CURL* CurlEngine::start(curl::Easy easy, Completion done) {
  CURL* raw = easy.get();
  impl_->active.emplace(raw, Impl::Active{std::move(easy), std::move(done)});
  if (CURLMcode code = curl_multi_add_handle(impl_->multi.get(), raw); code != CURLM_OK) {
    // Report through the normal path so callers have one way to learn of failure.
    auto found = impl_->active.find(raw);
    Impl::Active failed = std::move(found->second);
    impl_->active.erase(found);
    asio::post(impl_->io, [failed = std::make_shared<Impl::Active>(std::move(failed))] {
      failed->done(failed->easy.get(), CURLE_FAILED_INIT);
    });
  }
  return raw;
}

void CurlEngine::cancel(CURL* easy) {
  auto found = impl_->active.find(easy);
  if (found == impl_->active.end()) return;
  close_connection_after(easy);
  curl_multi_remove_handle(impl_->multi.get(), easy);
  impl_->active.erase(found);
}

void CurlEngine::close_connection_after(CURL* easy) {
  // curl reads it when the transfer is done, and keeps a connection other streams still use.
  if (impl_->active.contains(easy)) curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
}

void CurlEngine::resume(CURL* easy) {
  if (!impl_->active.contains(easy)) return;
  const CURLcode result = curl_easy_pause(easy, CURLPAUSE_CONT);
  if (result == CURLE_OK) return;
  // The write callback ran inside curl_easy_pause and may have cancelled the transfer itself.
  auto found = impl_->active.find(easy);
  if (found == impl_->active.end()) return;
  Impl::Active failed = std::move(found->second);
  impl_->active.erase(found);
  curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);  // the rest of the response is on its way
  curl_multi_remove_handle(impl_->multi.get(), easy);
  failed.done(easy, result);
}

std::size_t CurlEngine::active() const {
  return impl_->active.size();
}

void CurlEngine::set_max_host_connections(long limit) {
  curl_multi_setopt(impl_->multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, limit);
}

void CurlEngine::set_max_streams_per_connection(long limit) {
  curl_multi_setopt(impl_->multi.get(), CURLMOPT_MAX_CONCURRENT_STREAMS, limit);
}

void CurlEngine::set_max_connects(long limit) {
  curl_multi_setopt(impl_->multi.get(), CURLMOPT_MAXCONNECTS, limit);
}

}  // namespace pnsync
