// SPDX-License-Identifier: MIT
// pnsyncctl's text output against golden files in tests/ctl/golden/. After an intended change,
// regenerate them with PNSYNC_TEST_ACCEPT=1 and review the diff.
#include "ctl/render.hpp"
#include "ctl/output.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ctl/table.hpp"
#include "tests/protocol/samples.hpp"

using namespace pnsync::ctl;
using namespace pnsync;

namespace {

constexpr std::int64_t kNow = 1'700'003'600;  // an hour after the sample daemon started

void check_golden(const std::string& name, const std::string& actual) {
  const std::filesystem::path file = std::filesystem::path(PNSYNC_GOLDEN_DIR) / name;
  if (std::getenv("PNSYNC_TEST_ACCEPT") != nullptr) {
    std::ofstream(file, std::ios::binary) << actual;
    WARN("accepted " << file.string());
    return;
  }
  std::ifstream in(file, std::ios::binary);
  INFO("golden file " << file.string() << " (PNSYNC_TEST_ACCEPT=1 regenerates it)");
  REQUIRE(in);
  std::stringstream expected;
  expected << in.rdbuf();
  CHECK(actual == expected.str());
}

}  // namespace

TEST_CASE("status on a pipe: plain text, ASCII bars", "[render]") {
  check_golden("status_plain.txt",
               render_status(pnsync::test::sample_status(), {100, false, kNow}));
}

TEST_CASE("status on a narrow terminal: colours, block bars, paths cut in the middle", "[render]") {
  check_golden("status_tty_72.txt", render_status(pnsync::test::sample_status(), {72, true, kNow}));
}

TEST_CASE("status while the first listing runs: the total is unknown", "[render]") {
  pnsync::protocol::DaemonStatus status;
  status.version = "0.1.0";
  status.pid = 7;
  status.transfers = 4;
  pnsync::protocol::MirrorStatus mirror;
  mirror.name = "mimic-cxr/2.0.0";
  mirror.state = "listing";
  mirror.bytes_total_estimated = true;
  mirror.dirs_pending = 1;
  status.mirrors = {mirror};
  status.paused = true;
  check_golden("status_listing.txt", render_status(status, {80, false, kNow}));
}

TEST_CASE("status shows connections and requests in flight after the transfers line", "[render]") {
  using pnsync::protocol::ConnectionStatus;
  pnsync::protocol::DaemonStatus status;
  status.version = "0.1.0";
  status.pid = 7;
  status.transfers = 48;
  status.transfers_auto = true;
  status.max_transfers = 256;
  status.transfers_reason = "48 in flight: +12% at 48";
  auto [connections, expected] = GENERATE(table<ConnectionStatus, std::string>({
      {{18, 18, 20, true, 1, 17, 498.0 * 1024, "18 connections: connect time-outs at 20"},
       "connections: 18 open of 18 (auto, up to 20), 1 request each, 17 in flight, "
       "498.0 KiB/s per connection: 18 connections: connect time-outs at 20\n"},
      {{3, 4, 20, true, 16, 48, 0, "4 connections: +9% at 4"},
       "connections: 3 open of 4 (auto, up to 20), 16 requests each, 48 in flight: "
       "4 connections: +9% at 4\n"},
      {{8, 8, 8, false, 4, 30, 1.5 * 1024 * 1024, "fixed by configuration"},
       "connections: 8 open of 8 (fixed), 4 requests each, 30 in flight, 1.5 MiB/s per "
       "connection: fixed by configuration\n"},
      {{0, 2, 2, false, 1, 0, 0, ""},
       "connections: 0 open of 2 (fixed), 1 request each, 0 in flight\n"},
      {ConnectionStatus{}, ""},  // a daemon that does not report its connections: no line
  }));
  status.connections = connections;
  const std::string head =
      "pnsyncd 0.1.0, pid 7, 0 B/s in all\n"
      "transfers: 48 (auto, up to 256): 48 in flight: +12% at 48\n";
  CHECK(render_status(status, {200, false, kNow}) ==
        head + expected + "bandwidth limit: none\n\nno mirrors\n");
}

TEST_CASE("failures and plans", "[render]") {
  check_golden("failures.txt",
               render_failures(pnsync::test::sample_failures(), {100, false, kNow}));
  CHECK(render_failures({}, {}) == "no failed files\n");
  check_golden("plan.txt", render_plans({pnsync::test::sample_plan()}, {100, false, kNow}));
}

TEST_CASE("progress bars, digit groups and column widths", "[render]") {
  CHECK(progress_bar(0, 100, 10, false) == "[----------]");
  CHECK(progress_bar(45, 100, 10, false) == "[####------]");
  CHECK(progress_bar(100, 100, 10, false) == "[##########]");
  CHECK(progress_bar(200, 100, 4, false) == "[####]");  // clamped
  CHECK(progress_bar(5, 0, 4, false) == "[????]");      // unknown total
  CHECK(progress_bar(50, 100, 4, true) == "██░░");
  CHECK(group_digits(0) == "0");
  CHECK(group_digits(999) == "999");
  CHECK(group_digits(1000) == "1,000");
  CHECK(group_digits(377110) == "377,110");
  CHECK(group_digits(-1234567) == "-1,234,567");
  CHECK(display_width("≥4.7 TiB") == 8);
  CHECK(display_width("\033[1;31mfailed\033[0m") == 6);
  CHECK(elide_middle("files/p10/abcdef.dcm", 11) == "files…f.dcm");
  CHECK(display_width(elide_middle("αβγδεζηθικλμ", 5)) == 5);
  CHECK(elide_middle("short", 10) == "short");
}

TEST_CASE("names and messages from the daemon reach the terminal escaped", "[render]") {
  protocol::Response response;
  response.failures.emplace();
  response.failures->push_back(
      {"mimic-cxr/2.0.0", "files/\x1b]0;owned\x07.dcm", "HTTP 500\r\nfrom server", 3});
  const std::string text = answer_text(response, {}, OutputOptions{});
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find("files/\\x1b]0;owned\\x07.dcm") != std::string::npos);
  CHECK(text.find("HTTP 500\\r\\nfrom server") != std::string::npos);
  // --json keeps the bytes; the JSON encoder escapes them.
  OutputOptions json;
  json.json = true;
  const std::string encoded = answer_text(response, {}, json);
  CHECK(encoded.find('\x1b') == std::string::npos);
  CHECK(encoded.find("\\u001b]0;owned\\u0007") != std::string::npos);
}
