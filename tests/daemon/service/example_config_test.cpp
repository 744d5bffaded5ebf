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
#include "daemon/doctor/doctor.hpp"

namespace {

std::string read_text(const char* path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of the first `KEY=` line of the unit.
std::string unit_setting(const std::string& unit, const std::string& key) {
  std::smatch match;
  const std::regex line("^" + key + "=(.*)$", std::regex::multiline);
  REQUIRE(std::regex_search(unit, match, line));
  return match[1];
}

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

TEST_CASE("the example's password_file is one the service user can read, not the unit's credential",
          "[example_config]") {
  const std::string unit = read_text(PNSYNC_UNIT_FILE);
  const std::string user = unit_setting(unit, "User");
  const std::string credential = unit_setting(unit, "LoadCredential");
  // The doctor explains a missing credential with the unit's own source.
  CHECK(credential == std::string("pnsync-password:") + pnsync::doctor::kPackagedCredentialSource);

  const std::string example = read_example();
  const pnsync::config::Config config =
      pnsync::config::parse_config(uncomment_settings(example), "pnsync.yaml");
  REQUIRE(config.credentials->password_file);
  const std::string path = config.credentials->password_file->string();
  // systemd reads the credential's source as root; pnsyncd (User=) reads password_file itself.
  CHECK(path != pnsync::doctor::kPackagedCredentialSource);
  // The comment above it says how to make it so: owned by the unit's user, mode 0600.
  CHECK(example.find("install -m 600 -o " + user + " -g " + user + " /dev/null " + path) !=
        std::string::npos);
}
