// SPDX-License-Identifier: MIT
// systemd/pnsync.yaml, installed as /etc/pnsync/pnsync.yaml: inert as shipped (no mirror, so
// pnsyncd refuses to start until it is edited), and every setting it shows is valid once its
// "#" is removed, so the example cannot drift from the parser.
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "config/config.hpp"

namespace {

std::string read_example() {
  std::ifstream in(PNSYNC_EXAMPLE_CONFIG);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "#key: value" and "#  - project: x" are settings; "# text" (one space) is prose.
std::string uncomment_settings(const std::string& text) {
  return std::regex_replace(text, std::regex("^#(?=\\S|  )", std::regex::multiline), "");
}

}  // namespace

TEST_CASE("the shipped example configures nothing, so the service cannot start by accident",
          "[example_config]") {
  CHECK_THROWS_AS(pnsync::config::parse_config(read_example(), "pnsync.yaml"),
                  pnsync::config::ConfigError);
}

TEST_CASE("every setting in the shipped example parses once uncommented", "[example_config]") {
  const std::string text = uncomment_settings(read_example());
  INFO(text);
  const pnsync::config::Config config = pnsync::config::parse_config(text, "pnsync.yaml");
  CHECK(config.credentials->username == "jdoe");
  REQUIRE(config.mirrors.size() == 1);
  CHECK(config.mirrors[0].dest == "/srv/physionet/mimic-cxr/2.0.0");
  CHECK_FALSE(config.transfers);  // auto
  CHECK(config.file_mode == 0640);
  CHECK(config.dir_mode == 02750);
  CHECK(config.socket == "/run/pnsync/pnsyncd.sock");
  CHECK(config.metrics_listen == "127.0.0.1:9464");
}
