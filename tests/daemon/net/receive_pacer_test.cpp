// SPDX-License-Identifier: MIT
// Bodies paced by shared budgets (daemon/net/receive_pacer), through HttpClient against the
// loopback server: the rate holds over requests of a few hundred KB (where libcurl's own cap
// let them through at full speed), no request starves, bytes arrive intact, and a new rate or a
// cancel applies to requests already held.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>

#include "daemon/net/curl_handles.hpp"
#include "daemon/net/http_client.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/sandbox.hpp"

using namespace pnsync;
using namespace pnsync::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kMiB = 1 << 20;

struct PacerFixture {
  PacerFixture() {
    for (int i = 0; i < 4; ++i)
      write_file(sandbox / ("src/f" + std::to_string(i)), random_bytes(512 * 1024, i));
    write_file(sandbox / "src/big", random_bytes(2 * kMiB, 9));
    ServerOptions options;
    options.root = sandbox / "src";
    options.url_prefix = "/files/t/1/";
    server = std::make_unique<HttpServer>(options);
  }
  HttpSettings settings() const {
    HttpSettings s;
    s.user_agent = "Wget/1.21.3 (pnsync test)";
    s.allow_plain_http = true;
    s.connect_timeout = std::chrono::seconds(5);
    s.stall_timeout = std::chrono::seconds(5);
    return s;
  }
  GetRequest request(const std::string& name, std::string& into, ReceiveBudgets budgets) const {
    GetRequest request;
    request.url = server->base_url() + "/files/t/1/" + name;
    request.budgets = std::move(budgets);
    request.on_body = [&into](const ResponseInfo&, std::string_view chunk) {
      into.append(chunk);
      return true;
    };
    return request;
  }
  double seconds_since(Clock::time_point start) const {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
  curl::GlobalInit curl;
  Sandbox sandbox;
  std::unique_ptr<HttpServer> server;
};

}  // namespace

TEST_CASE("requests sharing a budget keep to its rate together, and none starves",
          "[receive_pacer]") {
  PacerFixture fixture;
  boost::asio::io_context io;
  HttpClient http(io, fixture.settings());
  const auto budget = std::make_shared<RateBudget>(kMiB);  // 1 MiB/s
  budget->spend(budget->burst());  // no head start for whichever request answers first
  std::map<int, std::string> bodies;
  std::map<int, double> finished_at;
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) {
    http.get(fixture.request("f" + std::to_string(i), bodies[i], {budget}),
             [&, i](const HttpOutcome& outcome) {
               CHECK(outcome.curl_code == 0);
               CHECK(outcome.info.status == 200);
               finished_at[i] = fixture.seconds_since(start);
             });
  }
  io.run();
  REQUIRE(finished_at.size() == 4);
  for (int i = 0; i < 4; ++i) CHECK(bodies[i] == random_bytes(512 * 1024, i));
  // 2 MiB at 1 MiB/s: 2 s for the four together.
  double last = 0, first = 1e9;
  for (const auto& [i, at] : finished_at) {
    last = std::max(last, at);
    first = std::min(first, at);
  }
  CHECK(last >= 1.9);
  // Shared, not served one after another: served in turn, the first would be done at a quarter.
  CHECK(first >= 0.6 * last);
}

TEST_CASE("the tighter of a request's budgets holds it", "[receive_pacer]") {
  PacerFixture fixture;
  boost::asio::io_context io;
  HttpClient http(io, fixture.settings());
  const auto host = std::make_shared<RateBudget>(0);  // no limit for the host
  const auto mirror = std::make_shared<RateBudget>(kMiB);
  std::string body;
  double took = 0;
  const auto start = Clock::now();
  http.get(fixture.request("big", body, {host, mirror}), [&](const HttpOutcome& outcome) {
    CHECK(outcome.curl_code == 0);
    took = fixture.seconds_since(start);
  });
  io.run();
  CHECK(body == random_bytes(2 * kMiB, 9));
  CHECK(took >= 1.7);  // (2 MiB - a 256 KiB burst) at 1 MiB/s: 1.75 s
}

TEST_CASE("a limit lifted mid-transfer frees the requests it holds at once", "[receive_pacer]") {
  PacerFixture fixture;
  boost::asio::io_context io;
  HttpClient http(io, fixture.settings());
  const auto budget = std::make_shared<RateBudget>(128 * 1024);  // the 2 MiB would take 15 s
  std::string body;
  double took = 0;
  const auto start = Clock::now();
  http.get(fixture.request("big", body, {budget}), [&](const HttpOutcome& outcome) {
    CHECK(outcome.curl_code == 0);
    took = fixture.seconds_since(start);
  });
  boost::asio::steady_timer lift(io, std::chrono::milliseconds(500));
  std::size_t by_then = 0;
  lift.async_wait([&](boost::system::error_code) {
    by_then = body.size();
    budget->set_rate(0);
  });
  io.run();
  CHECK(body == random_bytes(2 * kMiB, 9));
  CHECK(by_then < kMiB / 2);  // held to about a burst and a half second's rate
  CHECK(took < 5.0);
}

TEST_CASE("a held request can be cancelled while the others go on", "[receive_pacer]") {
  PacerFixture fixture;
  boost::asio::io_context io;
  HttpClient http(io, fixture.settings());
  const auto budget = std::make_shared<RateBudget>(256 * 1024);
  std::string kept, cancelled;
  bool cancelled_completed = false;
  int kept_code = -1;
  const auto id = http.get(fixture.request("big", cancelled, {budget}),
                           [&](const HttpOutcome&) { cancelled_completed = true; });
  http.get(fixture.request("f0", kept, {budget}),
           [&](const HttpOutcome& outcome) { kept_code = outcome.curl_code; });
  boost::asio::steady_timer cancel(io, std::chrono::milliseconds(300));
  cancel.async_wait([&](boost::system::error_code) { http.cancel(id); });
  io.run();
  CHECK_FALSE(cancelled_completed);
  CHECK(cancelled.size() < 2 * kMiB);
  CHECK(kept_code == 0);
  CHECK(kept == random_bytes(512 * 1024, 0));
  CHECK(http.active() == 0);
}
