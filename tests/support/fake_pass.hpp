// SPDX-License-Identifier: MIT
// A PassControl for testing the parts of a mirror pass without sockets: requests are answered on
// the io_context from a script of replies (status, headers, body), retries run on the next turn
// of the loop, and stops, verified files and the server's first answer are recorded.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/job/pass_control.hpp"
#include "store/store.hpp"

namespace pnsync::test {

class FakePass final : public PassControl {
public:
  // One scripted answer. A body is handed to the request's on_body as one chunk, as curl would
  // (2xx or not); curl_code != 0 is a transfer that failed without an answer.
  struct Reply {
    long status = 200;
    std::string body;
    std::optional<std::string> last_modified;
    int curl_code = 0;
  };
  // What a request asked for (on_body is not kept).
  struct Sent {
    std::string url;
    std::optional<std::int64_t> if_modified_since;
  };

  // Verified files go to `store` as MirrorJob's batches do.
  FakePass(boost::asio::io_context& io, store::Store& store) : io_(io), store_(store) {}

  std::deque<Reply> replies;
  std::vector<Sent> sent;
  std::optional<std::pair<JobStatus, std::string>> stopped;
  int retries = 0;
  int max_attempts = 3;
  bool answered = false;

  void send_listing_request(GetRequest request,
                            std::function<void(const HttpOutcome&)> done) override {
    sent.push_back({request.url, request.if_modified_since});
    boost::asio::post(io_, [this, request = std::move(request), done = std::move(done)] {
      if (stopped) return;  // the pass cancelled its requests
      if (replies.empty()) {
        stop(JobStatus::Failed, "FakePass: no reply scripted for " + request.url);
        return;
      }
      const Reply reply = replies.front();
      replies.pop_front();
      HttpOutcome outcome;
      outcome.url = request.url;
      outcome.curl_code = reply.curl_code;
      outcome.request_sent = reply.curl_code == 0;
      if (reply.curl_code == 0) {
        outcome.info.status = reply.status;
        outcome.info.last_modified = reply.last_modified;
        outcome.info.content_length = static_cast<std::int64_t>(reply.body.size());
        if (!reply.body.empty() && request.on_body) {
          if (request.on_body(outcome.info, reply.body)) {
            outcome.body_bytes = static_cast<std::int64_t>(reply.body.size());
          } else {
            outcome.curl_code = 23;  // CURLE_WRITE_ERROR: the body handler refused it
          }
        }
      }
      run_guarded([&] { done(outcome); });
    });
  }
  bool running() const override { return !stopped; }
  void stop(JobStatus why, std::string message) override {
    if (!stopped) stopped.emplace(why, std::move(message));
  }
  bool stop_if_refused(long status, const std::string& reason) override {
    if (status == 401) stop(JobStatus::AuthFailed, reason);
    if (status == 403) stop(JobStatus::AccessDenied, reason);
    return status == 401 || status == 403;
  }
  bool retry(RequestAttempt failed, const HttpOutcome& /*outcome*/,
             std::function<void(RequestAttempt)> again) override {
    if (failed.counted >= max_attempts) return false;
    ++retries;
    boost::asio::post(io_, [this, again = std::move(again), failed] {
      if (!stopped) again({failed.counted + 1, failed.not_connected});
    });
    return true;
  }
  bool server_answered() override {
    answered = true;
    return true;
  }
  void record_verified(const store::VerifiedFile& file) override {
    store_.mark_verified(std::span(&file, 1));
  }
  void run_guarded(const std::function<void()>& step) override {
    try {
      step();
    } catch (const store::StoreError& error) {
      stop(JobStatus::LocalStorage, error.what());
    }
  }

  // Runs the loop until `until` holds, the pass stops, or 10 s pass (a hang fails the test
  // instead of holding it up). The hash worker and publisher answer from their own threads.
  bool run_until(const std::function<bool()>& until) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!until() && !stopped && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(5));
    }
    return until();
  }

private:
  boost::asio::io_context& io_;
  store::Store& store_;
};

}  // namespace pnsync::test
