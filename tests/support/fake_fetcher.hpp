// SPDX-License-Identifier: MIT
// A Fetcher that answers from a script instead of a socket, on the io_context like HttpClient: a
// whole mirror pass (manifest, listings, files, retries, stops) runs in milliseconds. Each URL has
// a list of replies, taken in turn, the last one repeated; a URL without a script is a 404. A
// request with a Range gets a 206 with the slice asked for. Every request is recorded.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/net/fetcher.hpp"

namespace pnsync::test {

class FakeFetcher final : public Fetcher {
public:
  struct Reply {
    long status = 200;
    std::string body;
    std::optional<std::string> retry_after;
    std::optional<std::string> last_modified;
    // A transfer that failed without an answer (CURLcode), never connected when !connected.
    int curl_code = 0;
    bool connected = true;
  };
  struct Sent {
    std::string url;
    std::optional<std::int64_t> range_from;
  };

  explicit FakeFetcher(boost::asio::io_context& io) : io_(io) {}

  void script(const std::string& url, std::vector<Reply> replies) {
    scripts_[url] = Script{std::move(replies), 0};
  }
  void serve(const std::string& url, std::string body) {
    script(url, {Reply{200, std::move(body), std::nullopt, std::nullopt, 0, true}});
  }

  const std::vector<Sent>& sent() const { return sent_; }
  std::size_t requests_for(const std::string& url) const {
    std::size_t count = 0;
    for (const auto& request : sent_) count += request.url == url ? 1 : 0;
    return count;
  }

  RequestId get(GetRequest request, std::function<void(const HttpOutcome&)> done) override {
    sent_.push_back({request.url, request.range_from});
    // Kept for the fetcher's life, so that an id is never reused by a later request.
    Pending& pending = requests_.emplace_back();
    boost::asio::post(io_, [this, &pending, request = std::move(request), done = std::move(done)] {
      if (pending.cancelled) return;
      pending.cancelled = true;  // answered: a late cancel() changes nothing
      done(answer(request));
    });
    return &pending;
  }
  void cancel(RequestId id) override { static_cast<Pending*>(id)->cancelled = true; }
  void close_connection_after(RequestId /*id*/) override {}

private:
  struct Script {
    std::vector<Reply> replies;
    std::size_t next = 0;
  };
  struct Pending {
    bool cancelled = false;
  };

  static Reply not_found() {
    Reply reply;
    reply.status = 404;
    return reply;
  }
  Reply next_reply(const std::string& url) {
    const auto found = scripts_.find(url);
    if (found == scripts_.end() || found->second.replies.empty()) return not_found();
    Script& script = found->second;
    const Reply& reply = script.replies[std::min(script.next, script.replies.size() - 1)];
    ++script.next;
    return reply;
  }

  HttpOutcome answer(const GetRequest& request) {
    Reply reply = next_reply(request.url);
    HttpOutcome outcome;
    outcome.url = request.url;
    outcome.curl_code = reply.curl_code;
    outcome.request_sent = reply.connected;
    if (reply.curl_code != 0) {
      outcome.curl_error = "scripted failure " + std::to_string(reply.curl_code);
      return outcome;
    }
    ResponseInfo& info = outcome.info;
    info.status = reply.status;
    info.retry_after = reply.retry_after;
    info.last_modified = reply.last_modified;
    std::string body = std::move(reply.body);
    const auto total = static_cast<std::int64_t>(body.size());
    if (reply.status == 200 && request.range_from && *request.range_from < total) {
      const std::int64_t from = *request.range_from;
      const std::int64_t to = std::min(request.range_to.value_or(total - 1), total - 1);
      info.status = 206;
      info.content_range =
          "bytes " + std::to_string(from) + "-" + std::to_string(to) + "/" + std::to_string(total);
      body = body.substr(static_cast<std::size_t>(from), static_cast<std::size_t>(to - from + 1));
    }
    info.content_length = static_cast<std::int64_t>(body.size());
    if (request.head || body.empty() || !request.on_body) return outcome;
    if (request.on_body(info, body)) {
      outcome.body_bytes = static_cast<std::int64_t>(body.size());
    } else {
      outcome.curl_code = 23;  // CURLE_WRITE_ERROR: the body handler refused it
      outcome.curl_error = "the body handler refused the data";
    }
    return outcome;
  }

  boost::asio::io_context& io_;
  std::map<std::string, Script> scripts_;
  std::deque<Pending> requests_;
  std::vector<Sent> sent_;
};

}  // namespace pnsync::test
