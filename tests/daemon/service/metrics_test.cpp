// SPDX-License-Identifier: MIT
// The Prometheus renderer: escaping and number formats from tables, the histogram's bucketing, a
// golden file of a whole scrape (PNSYNC_TEST_ACCEPT=1 rewrites it), and a lint of the output's
// structure that would catch a family without # TYPE, a counter without _total or a duplicate
// series.
#include "daemon/service/metrics.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace pnsync::metrics;
using pnsync::protocol::DaemonStatus;
using pnsync::protocol::MirrorStatus;
using pnsync::store::FileState;
using namespace std::chrono_literals;

namespace {

// A daemon two mirrors into its life, with a hostile dest path to exercise label escaping.
Metrics sample_metrics() {
  Metrics metrics;
  MirrorCounters& cxr = metrics.mirror("mimic-cxr/2.0.0");
  cxr.fetched_bytes = 5368709120;
  cxr.files(FileState::Pending) = 376000;
  cxr.files(FileState::Partial) = 8;
  cxr.files(FileState::Verified) = 1100;
  cxr.files(FileState::Failed) = 2;
  MirrorCounters& demo = metrics.mirror("demo/1.0.0");
  demo.fetched_bytes = 1024;
  demo.files(FileState::Verified) = 3;
  demo.last_success_unix = 1764115200;
  metrics.count_retry(RetryReason::ServerError);
  metrics.count_retry(RetryReason::ServerError);
  metrics.count_retry(RetryReason::Checksum);
  metrics.auth_failures = 1;
  metrics.transfers_active = 8;
  for (const double seconds : {0.004, 0.01, 0.2, 0.2, 1.5, 75.0})
    metrics.request_latency.observe(std::chrono::duration<double>(seconds));
  return metrics;
}

DaemonStatus sample_status() {
  DaemonStatus status;
  status.version = "0.1.0";
  status.pid = 4242;
  status.started_unix = 1764100000;
  status.transfers = 12;
  status.transfers_auto = true;
  status.max_transfers = 16;
  status.bandwidth_limit = 52428800;
  status.connections = {.open = 18,
                        .limit = 18,
                        .max = 20,
                        .adaptive = true,
                        .streams_per_connection = 1,
                        .requests_in_flight = 17,
                        .rate_per_connection_bytes_per_s = 524288,
                        .reason = "18 connections: connect time-outs at 20"};
  MirrorStatus cxr;
  cxr.name = "mimic-cxr/2.0.0";
  cxr.dest = "/srv/physionet/\"cxr\"\\2.0.0\nnew";
  cxr.state = "syncing";
  cxr.bytes_total = 5000000000000;
  cxr.bytes_verified = 5368709120;
  cxr.dirs_pending = 17;
  MirrorStatus demo;
  demo.name = "demo/1.0.0";
  demo.dest = "/srv/physionet/demo/1.0.0";
  demo.state = "idle";
  demo.bytes_total = 1024;
  demo.bytes_verified = 1024;
  demo.bandwidth_limit = 1048576;
  demo.next_sync_unix = 1764201600;
  status.mirrors = {cxr, demo};  // not sorted: the renderer sorts
  return status;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The rules of the text format (and of Prometheus naming) that a scraper or promtool would hold
// the output to. Returns the first violation, or "".
std::string lint(const std::string& text) {
  if (text.empty() || text.back() != '\n') return "the body must end with a line feed";
  const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")"
      R"((?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (\S+))");
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::set<std::string> series;
  std::string current;  // the family whose samples may follow
  for (const std::string& line : lines_of(text)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      if (!helped.insert(m[1]).second) return "second # HELP for " + m[1].str();
      current = m[1];
    } else if (std::regex_match(line, m, type)) {
      if (m[1] != current) return "# TYPE without its # HELP first: " + line;
      if (!types.emplace(m[1], m[2]).second) return "second # TYPE for " + m[1].str();
      if (m[2] == "counter" && !current.ends_with("_total"))
        return "counter without _total: " + current;
      if (m[2] != "counter" && current.ends_with("_total"))
        return "_total on a non-counter: " + current;
    } else if (std::regex_match(line, m, sample)) {
      std::string name = m[1];
      if (types[current] == "histogram")
        for (const char* suffix : {"_bucket", "_sum", "_count"})
          if (name == current + suffix) name = current;
      if (name != current) return "sample outside its family " + current + ": " + line;
      if (!series.insert(m[1].str() + m[2].str()).second) return "duplicate series: " + line;
      const std::string value = m[3];
      if (value != "+Inf" && value != "-Inf" && value != "NaN") {
        std::size_t used = 0;
        std::stod(value, &used);
        if (used != value.size()) return "not a number: " + line;
      }
    } else {
      return "not a HELP, TYPE or sample line: " + line;
    }
  }
  for (const auto& name : helped)
    if (!types.contains(name)) return "no # TYPE for " + name;
  return "";
}

}  // namespace

TEST_CASE("label values escape backslash, double quote and line feed only", "[metrics]") {
  const auto [raw, escaped] = GENERATE(table<std::string, std::string>({
      {"plain/1.0.0", "plain/1.0.0"},
      {"", ""},
      {R"(C:\data)", R"(C:\\data)"},
      {R"(say "hi")", R"(say \"hi\")"},
      {"two\nlines", R"(two\nlines)"},
      {"\\n is not a newline", R"(\\n is not a newline)"},
      {"tab\tand cr\r stay", "tab\tand cr\r stay"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},  // UTF-8 passes through
  }));
  CAPTURE(raw);
  CHECK(detail::escape_label_value(raw) == escaped);
}

TEST_CASE("HELP text escapes backslash and line feed, not double quotes", "[metrics]") {
  CHECK(detail::escape_help(R"(a "quoted" \ word)") == R"(a "quoted" \\ word)");
  CHECK(detail::escape_help("one\ntwo") == R"(one\ntwo)");
}

TEST_CASE("values: exact integers, shortest doubles, Prometheus's infinities", "[metrics]") {
  const auto [value, text] = GENERATE(table<double, std::string>({
      {0, "0"},
      {1, "1"},
      {-3, "-3"},
      {5368709120.0, "5368709120"},
      {9007199254740991.0, "9007199254740991"},  // 2^53 - 1: still an integer
      {1e20, "1e+20"},                           // beyond 2^53: exponent form, still exact
      {0.25, "0.25"},
      {0.1, "0.1"},
      {2.5, "2.5"},
      {1.0 / 3, "0.3333333333333333"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  }));
  CAPTURE(value);
  CHECK(detail::format_value(value) == text);
}

TEST_CASE("a latency equal to a bound counts in that bound's bucket", "[metrics]") {
  const auto [seconds, bucket] = GENERATE(table<double, int>({
      {0.0, 0},
      {0.009, 0},
      {0.01, 0},  // le="0.01" means <= 0.01
      {0.0100001, 1},
      {1.0, 6},
      {60.0, 11},
      {60.5, -1},  // only in +Inf
  }));
  CAPTURE(seconds);
  LatencyHistogram histogram;
  histogram.observe(std::chrono::duration<double>(seconds));
  std::array<std::uint64_t, LatencyHistogram::kBounds.size()> expected{};
  if (bucket >= 0) expected[static_cast<std::size_t>(bucket)] = 1;
  CHECK(histogram.per_bucket() == expected);
  CHECK(histogram.count() == 1);
  CHECK(histogram.sum_seconds() == seconds);
}

TEST_CASE("buckets are rendered cumulative and +Inf equals the count", "[metrics]") {
  Metrics metrics;
  for (const double seconds : {0.004, 0.01, 0.2, 0.2, 1.5, 75.0})
    metrics.request_latency.observe(std::chrono::duration<double>(seconds));
  const std::string text = render(metrics, DaemonStatus{});
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_bucket{le=\"0.01\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_bucket{le=\"0.1\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_bucket{le=\"0.25\"} 4\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_bucket{le=\"2.5\"} 5\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_bucket{le=\"60\"} 5\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_bucket{le=\"+Inf\"} 6\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_count 6\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_request_latency_seconds_sum 76.914\n"));
}

TEST_CASE("every retry reason has a series from the start, so rate() works at once", "[metrics]") {
  const std::string text = render(Metrics{}, DaemonStatus{});
  for (const char* reason : {"network", "timeout", "server_error", "rate_limited", "checksum"})
    CHECK_THAT(text,
               Catch::Contains("pnsync_retries_total{reason=\"" + std::string(reason) + "\"} 0\n"));
}

TEST_CASE("a mirror's state is one 1 among zeros, an unknown state is kept", "[metrics]") {
  DaemonStatus status;
  status.mirrors.resize(2);
  status.mirrors[0].name = "a/1";
  status.mirrors[0].state = "paused";
  status.mirrors[1].name = "b/1";
  status.mirrors[1].state = "verifying";
  const std::string text = render(Metrics{}, status);
  CHECK_THAT(text, Catch::Contains("pnsync_mirror_state{mirror=\"a/1\",state=\"paused\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_mirror_state{mirror=\"a/1\",state=\"idle\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("pnsync_mirror_state{mirror=\"b/1\",state=\"verifying\"} 1\n"));
  CHECK(lint(text).empty());
}

TEST_CASE("the output follows the exposition format and Prometheus naming", "[metrics]") {
  SECTION("a busy daemon") {
    CHECK(lint(render(sample_metrics(), sample_status())).empty());
  }
  SECTION("nothing counted yet") {
    CHECK(lint(render(Metrics{}, DaemonStatus{})).empty());
  }
}

TEST_CASE("the lint itself catches what it is meant to", "[metrics]") {
  CHECK(lint("# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n").empty());
  CHECK(lint("# HELP x X.\n# TYPE x counter\nx 1\n") == "counter without _total: x");
  CHECK(lint("x 1\n") == "sample outside its family : x 1");
  CHECK(lint("# HELP x X.\n# TYPE x gauge\nx 1\nx 2\n") == "duplicate series: x 2");
  CHECK(lint("# HELP x X.\n# TYPE x gauge\nx{a=\"\"\"} 1\n").starts_with("not a HELP"));
  CHECK(lint("# HELP x X.\n# TYPE x gauge\nx 1") == "the body must end with a line feed");
}

TEST_CASE("a whole scrape matches the golden file", "[metrics]") {
  const std::string golden_path = std::string(PNSYNC_GOLDEN_DIR) + "/metrics.prom";
  const std::string text = render(sample_metrics(), sample_status());
  const char* accept = std::getenv("PNSYNC_TEST_ACCEPT");
  if (accept != nullptr && std::string(accept) == "1") {
    std::ofstream(golden_path, std::ios::binary) << text;
    WARN("rewrote " << golden_path);
  }
  std::ifstream in(golden_path, std::ios::binary);
  REQUIRE(in);
  const std::string golden((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO("PNSYNC_TEST_ACCEPT=1 rewrites " << golden_path << " after a deliberate change");
  CHECK(text == golden);
}
