// SPDX-License-Identifier: MIT
// parse_config / load_config: every validation rule as a (yaml, message) row, defaults, a full
// config, files on disk.
#include "config/config.hpp"

#include "tests/config/test_env.hpp"

#include <catch2/catch.hpp>

using namespace pnsync::config;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::filesystem::path kFixtures = PNSYNC_CONFIG_FIXTURES;

// A valid mirrors section to append to rows that test another key.
const std::string M = "mirrors:\n  - {project: demo, version: 1.0.0, dest: /data/demo}\n";

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("every rule fails with FILE:LINE: KEY: reason", "[config]") {
  auto [yaml, expected] = GENERATE(table<std::string, std::string>({
      // The document as a whole.
      {"", "t.yaml: the configuration is empty"},
      {"# only a comment\n", "t.yaml: the configuration is empty"},
      {"~\n", "t.yaml: the configuration is empty"},
      {"transfers: 4\n" + M + "---\ntransfers: 5\n",
       "t.yaml:5: a config file holds one YAML document, found a second"},
      {"- a\n- b\n", "t.yaml:1: the top level must be a mapping of keys, got a list"},
      {"just text\n", "t.yaml:1: the top level must be a mapping of keys, got a single value"},
      {"transfers: 8\n", "t.yaml: mirrors: required key is missing (list at least one mirror)"},
      {"transfers: [1,\n", "t.yaml:2: end of sequence flow not found"},
      {"a: b: c\n", "t.yaml:1: illegal map value"},
      {"x: *nope\n", "t.yaml:1: the referenced anchor is not defined"},
      // Keys.
      {"tranfers: 8\n" + M, "t.yaml:1: tranfers: unknown key (did you mean \"transfers\"?)"},
      {"\nbanana: 1\n" + M,
       "t.yaml:2: banana: unknown key (expected one of: server, ca_file, ca_replace_system, "},
      {"transfers: 4\ntransfers: 5\n" + M,
       "t.yaml:2: transfers: duplicate key (first set on line 1)"},
      {"[a]: 1\n" + M, "t.yaml:1: keys must be plain names, got a list"},
      {"<<: {transfers: 4}\n" + M, "t.yaml:1: <<: unknown key"},
      // server
      {"server: http://physionet.org\n" + M,
       "t.yaml:1: server: http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, "
       "localhost): "
       "credentials must never travel in clear"},
      {"server: http://10.0.0.1:8080\n" + M,
       "t.yaml:1: server: http:// is allowed only for loopback hosts"},
      {"server: http://localhost.example\n" + M,
       "t.yaml:1: server: http:// is allowed only for loopback"},
      {"server: ftp://physionet.org\n" + M, "t.yaml:1: server: must start with https://"},
      {"server: physionet.org\n" + M,
       "t.yaml:1: server: must be an origin such as https://physionet.org"},
      {"server: https://physionet.org/files/\n" + M,
       "t.yaml:1: server: must be an origin without a path"},
      {"server: https://jdoe:pw@physionet.org\n" + M,
       "t.yaml:1: server: must not contain user info"},
      {"server: https://physionet.org:99999\n" + M, "t.yaml:1: server: has an invalid port"},
      {"server: [a, b]\n" + M, "t.yaml:1: server: must be a URL, got a list"},
      {"server:\n" + M, "t.yaml:1: server: missing value (expected a URL)"},
      // ca_file, state_dir
      {"ca_file: /nonexistent/ca.pem\n" + M,
       "t.yaml:1: ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory"},
      {"ca_file: ca.pem\n" + M, "t.yaml:1: ca_file: must be an absolute path, got \"ca.pem\""},
      {"ca_file: /\n" + M, "t.yaml:1: ca_file: \"/\" is not a regular file"},
      {"state_dir: var/lib/pnsync\n" + M,
       "t.yaml:1: state_dir: must be an absolute path, got \"var/lib/pnsync\""},
      {"state_dir: ''\n" + M, "t.yaml:1: state_dir: must not be empty"},
      {"state_dir: {a: 1}\n" + M, "t.yaml:1: state_dir: must be a path, got a mapping"},
      {"state_dir: /data\n" + M,
       "t.yaml:1: state_dir: \"/data\" overlaps mirrors[0].dest \"/data/demo\"; keep the state "
       "directory outside"},
      {"mirrors:\n  - {project: demo, version: 1.0.0, dest: /var/lib/pnsync/demo}\n",
       "t.yaml:2: mirrors[0].dest: \"/var/lib/pnsync/demo\" overlaps state_dir \"/var/lib/pnsync\" "
       "(the default)"},
      // user_agent
      {"user_agent: curl/8.0\n" + M,
       "t.yaml:1: user_agent: must start with \"Wget/\" or \"libwfdb/\": physionet.org honours "
       "Basic auth only "
       "for those user agents and answers 403 to any other, got \"curl/8.0\""},
      {"user_agent: wget/1.0\n" + M, "t.yaml:1: user_agent: must start with \"Wget/\""},
      {"user_agent: ''\n" + M, "t.yaml:1: user_agent: must start with \"Wget/\""},
      {"user_agent: \"Wget/1\\r\\nX-Evil: 1\"\n" + M,
       "t.yaml:1: user_agent: must not contain control characters"},
      {"server: https://physionet.org\nca_replace_system: true\n" + M,
       "t.yaml:2: ca_replace_system: true needs ca_file: it replaces the system's CA certificates "
       "with ca_file's"},
      {"ca_replace_system: maybe\n" + M,
       "t.yaml:1: ca_replace_system: must be true or false, got \"maybe\""},
      // credentials
      {"credentials: jdoe\n" + M,
       "t.yaml:1: credentials: must be a mapping of keys, got a single value"},
      {"credentials:\n" + M, "t.yaml:1: credentials: must be a mapping of keys, got nothing"},
      {"credentials:\n  password_file: /etc/pw\n" + M,
       "t.yaml:2: credentials.username: required key is missing (credentials needs a username"},
      {"credentials:\n  username: jdoe\n  pasword_file: /etc/pw\n" + M,
       "t.yaml:3: credentials.pasword_file: unknown key (did you mean \"password_file\"?)"},
      {"credentials:\n  username: jdoe\n  password: hunter2\n" + M,
       "t.yaml:3: credentials.password: not allowed: a password never goes in the config file"},
      {"credentials:\n  username: jdoe\n  token: x\n" + M,
       "t.yaml:3: credentials.token: unknown key (expected one of: username, password_file, "
       "netrc)"},
      {"credentials:\n  username: jdoe\n  password_file: /etc/pw\n  netrc: true\n" + M,
       "t.yaml:4: credentials.netrc: cannot be combined with password_file; choose one password "
       "source"},
      {"credentials:\n  username: jdoe\n  netrc: yes\n" + M,
       "t.yaml:3: credentials.netrc: must be true or false, got \"yes\""},
      {"credentials:\n  username: jdoe:pw\n" + M,
       "t.yaml:2: credentials.username: must not contain ':'"},
      {"credentials:\n  username: ''\n" + M, "t.yaml:2: credentials.username: must not be empty"},
      {"credentials:\n  username: [a]\n" + M,
       "t.yaml:2: credentials.username: must be a user name, got a list"},
      {"credentials:\n  username: jdoe\n  password_file: pw\n" + M,
       "t.yaml:3: credentials.password_file: must be an absolute path, got \"pw\""},
      {"credentials:\n  username: jdoe\n  username: jane\n" + M,
       "t.yaml:3: credentials.username: duplicate key (first set on line 2)"},
      // Daemon and operation keys.
      {"bandwidth_limit: fast\n" + M,
       "t.yaml:1: bandwidth_limit: must be bytes per second with an optional unit K, M or G"},
      {"bandwidth_limit: 5T\n" + M, "t.yaml:1: bandwidth_limit: must be bytes per second"},
      {"bandwidth_limit: 2000G\n" + M, "t.yaml:1: bandwidth_limit: must be at most 1024G"},
      {"log_level: verbose\n" + M,
       "t.yaml:1: log_level: must be error, warning, info or debug, got \"verbose\""},
      {"file_mode: 0755\n" + M, "t.yaml:1: file_mode: must not set execute"},
      {"file_mode: rw-r-----\n" + M, "t.yaml:1: file_mode: must be an octal mode"},
      {"dir_mode: \"0050\"\n" + M, "t.yaml:1: dir_mode: must give the owner rwx"},
      {"group: \"bad group\"\n" + M, "t.yaml:1: group: must be a group name"},
      {"metrics_listen: 9464\n" + M, "t.yaml:1: metrics_listen: must be HOST:PORT"},
      {"metrics_listen: \"127.0.0.1:70000\"\n" + M, "t.yaml:1: metrics_listen: must be HOST:PORT"},
      {"socket: run/pnsync.sock\n" + M, "t.yaml:1: socket: must be an absolute path"},
      {"max_transfers: 0\n" + M, "t.yaml:1: max_transfers: must be 1..256, got \"0\""},
      {"mirrors:\n  - {project: a, version: '1', dest: /d, every: 10s}\n",
       "t.yaml:2: mirrors[0].every: must be at least 1m, got \"10s\""},
      // Integers.
      {"\n\n\n\n\n\ntransfers: x\n" + M, "t.yaml:7: transfers: must be 1..256 or auto, got \"x\""},
      {"transfers: 0\n" + M, "t.yaml:1: transfers: must be 1..256 or auto, got \"0\""},
      {"transfers: 257\n" + M, "t.yaml:1: transfers: must be 1..256 or auto, got \"257\""},
      {"transfers: -1\n" + M, "t.yaml:1: transfers: must be 1..256 or auto, got \"-1\""},
      {"transfers: 8.0\n" + M, "t.yaml:1: transfers: must be 1..256 or auto, got \"8.0\""},
      {"transfers: 0x10\n" + M, "t.yaml:1: transfers: must be 1..256 or auto, got \"0x10\""},
      {"transfers: [8]\n" + M, "t.yaml:1: transfers: must be an integer or auto, got a list"},
      {"transfers:\n" + M, "t.yaml:1: transfers: missing value (expected an integer or auto)"},
      {"max_host_connections: 300\n" + M,
       "t.yaml:1: max_host_connections: must be 1..256, got \"300\""},
      {"listing_concurrency: 65\n" + M, "t.yaml:1: listing_concurrency: must be 1..64, got \"65\""},
      {"listing_concurrency: 0\n" + M, "t.yaml:1: listing_concurrency: must be 1..64, got \"0\""},
      {"streams_per_connection: 0\n" + M,
       "t.yaml:1: streams_per_connection: must be 1..1000, got \"0\""},
      {"segments: 0\n" + M, "t.yaml:1: segments: must be 1..32 or auto, got \"0\""},
      {"segments: many\n" + M, "t.yaml:1: segments: must be 1..32 or auto, got \"many\""},
      {"segment_size: 512K\n" + M, "t.yaml:1: segment_size: must be at least 1M, got \"512K\""},
      {"max_attempts: 0\n" + M, "t.yaml:1: max_attempts: must be 1..100, got \"0\""},
      {"max_attempts: 101\n" + M, "t.yaml:1: max_attempts: must be 1..100, got \"101\""},
      // Durations.
      {"stall_timeout: 0s\n" + M, "t.yaml:1: stall_timeout: must be at least 1s, got \"0s\""},
      {"retry_after_max: 0s\n" + M, "t.yaml:1: retry_after_max: must be at least 1s, got \"0s\""},
      {"stall_timeout: 0\n" + M, "t.yaml:1: stall_timeout: must be at least 1s, got \"0\""},
      {"stall_timeout: 500ms\n" + M, "t.yaml:1: stall_timeout: milliseconds are not allowed here"},
      {"stall_timeout: fast\n" + M,
       "t.yaml:1: stall_timeout: must be a duration such as 90s, 15m, 24h or 7d, got \"fast\""},
      {"connect_timeout: -5s\n" + M,
       "t.yaml:1: connect_timeout: must not be negative, got \"-5s\""},
      {"connect_timeout: 0s\n" + M, "t.yaml:1: connect_timeout: must be at least 1s"},
      {"connect_timeout: {s: 1}\n" + M,
       "t.yaml:1: connect_timeout: must be a duration, got a mapping"},
      {"relist_after: 1.5h\n" + M, "t.yaml:1: relist_after: must be a duration such as"},
      {"relist_after: 0h\n" + M, "t.yaml:1: relist_after: must be at least 1s"},
      {"relist_after: 400d\n" + M, "t.yaml:1: relist_after: must be at most 365d, got \"400d\""},
      {"retry_base: 0ms\n" + M, "t.yaml:1: retry_base: must be at least 1ms, got \"0ms\""},
      {"retry_base: 1sec\n" + M,
       "t.yaml:1: retry_base: must be a duration such as 90s, 15m, 24h or 7d (or 500ms)"},
      {"retry_max: 99999999999999999999999\n" + M, "t.yaml:1: retry_max: must be at most 365d"},
      {"retry_base: 10s\nretry_max: 5s\n" + M,
       "t.yaml:2: retry_max: must not be less than retry_base (10s), got 5s"},
      {"retry_max: 5s\nretry_base: 10s\n" + M,
       "t.yaml:1: retry_max: must not be less than retry_base (10s), got 5s"},
      {"retry_base: 10m\n" + M, "t.yaml:1: retry_base: must not exceed retry_max (5m), got 10m"},
      {"retry_max: 500ms\n" + M,
       "t.yaml:1: retry_max: must not be less than retry_base (1s), got 500ms"},
      // mirrors
      {"mirrors: []\n", "t.yaml:1: mirrors: must list at least one mirror"},
      {"mirrors:\n", "t.yaml:1: mirrors: must be a list of mirrors (- project: ...), got nothing"},
      {"mirrors: {project: demo}\n",
       "t.yaml:1: mirrors: must be a list of mirrors (- project: ...), got a mapping"},
      {"mirrors:\n  - demo\n",
       "t.yaml:2: mirrors[0]: must be a mapping of keys, got a single value"},
      {"mirrors:\n  - project: demo\n    version: 1.0\n",
       "t.yaml:2: mirrors[0].dest: required key is missing"},
      {"mirrors:\n  - version: 1.0\n    dest: /d\n",
       "t.yaml:2: mirrors[0].project: required key is missing"},
      {"mirrors:\n  - project: demo\n    dest: /d\n",
       "t.yaml:2: mirrors[0].version: required key is missing"},
      {"mirrors:\n  - project: demo\n    versoin: 1\n",
       "t.yaml:3: mirrors[0].versoin: unknown key (did you mean \"version\"?)"},
      {"mirrors:\n  - project: Demo\n    version: 1\n    dest: /d\n",
       "t.yaml:2: mirrors[0].project: must be lower-case letters, digits and dashes ([a-z0-9-]+), "
       "got \"Demo\""},
      {"mirrors:\n  - project: my_db\n    version: 1\n    dest: /d\n",
       "t.yaml:2: mirrors[0].project: must be lower-case"},
      {"mirrors:\n  - project: ../etc\n    version: 1\n    dest: /d\n",
       "t.yaml:2: mirrors[0].project: must be lower-case"},
      {"mirrors:\n  - project: ''\n    version: 1\n    dest: /d\n",
       "t.yaml:2: mirrors[0].project: must be lower-case"},
      {"mirrors:\n  - project: demo\n    version: v1\n    dest: /d\n",
       "t.yaml:3: mirrors[0].version: must be digits separated by dots (e.g. 2.1.0), got \"v1\""},
      {"mirrors:\n  - project: demo\n    version: 1..2\n    dest: /d\n",
       "t.yaml:3: mirrors[0].version: must be digits"},
      {"mirrors:\n  - project: demo\n    version: 1.\n    dest: /d\n",
       "t.yaml:3: mirrors[0].version: must be digits"},
      {"mirrors:\n  - project: demo\n    version: .1\n    dest: /d\n",
       "t.yaml:3: mirrors[0].version: must be digits"},
      {"mirrors:\n  - project: demo\n    version: 1\n    dest: rel/x\n",
       "t.yaml:4: mirrors[0].dest: must be an absolute path, got \"rel/x\""},
      {"mirrors:\n  - project: demo\n    version: 1\n    dest: /\n",
       "t.yaml:4: mirrors[0].dest: must not be the root"},
      {"mirrors:\n  - project: demo\n    version: 1\n    dest: /a/..\n",
       "t.yaml:4: mirrors[0].dest: must not be the root"},
      {M + "  - project: demo\n    version: 1.0.0\n    dest: /data/other\n",
       "t.yaml:3: mirrors[1]: duplicate mirror demo/1.0.0, already listed as mirrors[0] (line 2)"},
      {M + "  - project: other\n    version: 1\n    dest: /data/demo/\n",
       "t.yaml:5: mirrors[1].dest: \"/data/demo\" is the same as the dest of mirrors[0] (line 2); "
       "mirror destinations must not be equal or nested"},
      {M + "  - project: other\n    version: 1\n    dest: /data/x/../demo\n",
       "t.yaml:5: mirrors[1].dest: \"/data/demo\" is the same as the dest of mirrors[0]"},
      {M + "  - project: other\n    version: 1\n    dest: /data/demo/sub\n",
       "t.yaml:5: mirrors[1].dest: \"/data/demo/sub\" lies inside the dest of mirrors[0] (line 2)"},
      {M + "  - project: other\n    version: 1\n    dest: /data\n",
       "t.yaml:5: mirrors[1].dest: \"/data\" contains the dest of mirrors[0] (line 2)"},
  }));
  INFO(yaml);
  const std::string message = error_of(yaml);
  CHECK_THAT(message, Contains(expected));
  CHECK_THAT(message, StartsWith("t.yaml"));
}

TEST_CASE("a config value is never echoed from the wrong place", "[config]") {
  for (const std::string& yaml :
       {"credentials:\n  username: jdoe\n  password: hunter2\n" + M,
        "credentials:\n  username: jdoe:hunter2\n" + M, "credentials: hunter2\n" + M,
        "server: https://jdoe:hunter2@physionet.org\n" + M}) {
    INFO(yaml);
    const std::string message = error_of(yaml);
    CHECK_THAT(message, StartsWith("t.yaml:"));
    CHECK_THAT(message, !Contains("hunter2"));
  }
}

TEST_CASE("defaults: a config with only a mirror", "[config]") {
  const Config config = load_config(kFixtures / "minimal.yaml");
  const Config defaults;
  CHECK(config.source_file == kFixtures / "minimal.yaml");
  CHECK(config.server == "https://physionet.org");
  CHECK(config.server == defaults.server);
  CHECK_FALSE(config.ca_file);
  CHECK(config.state_dir == "/var/lib/pnsync");
  CHECK(config.user_agent == "Wget/1.21.3 (compatible; pnsync/0.1)");
  CHECK_FALSE(config.credentials);
  CHECK_FALSE(config.transfers);  // auto
  CHECK(config.max_transfers == 64);
  CHECK(config.max_connections == 20);
  CHECK(config.listing_concurrency == 16);
  CHECK(config.streams_per_connection == 4);
  CHECK(config.segments == 8);
  CHECK(config.segment_size == 64 << 20);
  CHECK(config.stall_timeout == 60s);
  CHECK(config.retry_after_max == 1h);
  CHECK(config.connect_timeout == 10s);
  CHECK(config.max_attempts == 8);
  CHECK(config.retry_base == 1s);
  CHECK(config.retry_max == 5min);
  CHECK(config.relist_after == 24h);
  REQUIRE(config.mirrors.size() == 1);
  CHECK(config.mirrors[0].name() == "demo/1.0.0");
  CHECK(config.mirrors[0].dest == "/data/physionet/demo/1.0.0");
  CHECK(resolve_password(config).empty());  // anonymous
}

TEST_CASE("every key set: values arrive normalised", "[config]") {
  const Config config = load_config(kFixtures / "full.yaml");
  CHECK(config.server == "https://mirror.example.org:8443");
  CHECK(config.state_dir == "/srv/pnsync/state");
  CHECK(config.user_agent == "libwfdb/10.7.0 (pnsync test)");
  REQUIRE(config.credentials);
  CHECK(config.credentials->username == "jdoe");
  CHECK(config.credentials->password_file == std::filesystem::path("/etc/pnsync/password"));
  CHECK_FALSE(config.credentials->netrc);
  CHECK(config.transfers == 16);
  CHECK(config.max_connections == 12);
  CHECK(config.listing_concurrency == 2);
  CHECK(config.segments == 3);
  CHECK(config.segment_size == std::int64_t{3} << 30);
  CHECK(config.stall_timeout == 2min);
  CHECK(config.retry_after_max == 20min);
  CHECK(config.connect_timeout == 45s);
  CHECK(config.max_attempts == 5);
  CHECK(config.retry_base == 250ms);
  CHECK(config.retry_max == 1h);
  CHECK(config.relist_after == std::chrono::hours(24 * 7));
  REQUIRE(config.mirrors.size() == 2);
  CHECK(config.mirrors[0].project == "mimic-cxr");
  CHECK(config.mirrors[0].version == "2.1.0");
  CHECK(config.mirrors[0].dest == "/data/physionet/mimic-cxr/2.1.0");
  CHECK(config.mirrors[1].name() == "mimic-iv/3.1");
  CHECK(config.mirrors[1].dest == "/data/physionet/mimic-iv/3.1");
  CHECK(config.max_transfers == 24);
  CHECK(config.socket == "/run/pnsync-test/ctl.sock");
  CHECK(config.control_group == "pnsync-admins");
  CHECK(config.bandwidth_limit == 50 * 1024 * 1024);
  CHECK(config.log_level == pnsync::config::LogLevel::Debug);
  CHECK(config.file_mode == 0600);
  CHECK(config.dir_mode == 0750);
  CHECK(config.group == "physionet");
  CHECK(config.metrics_listen == "127.0.0.1:9464");
  CHECK(config.mirrors[0].every == 24h);
  CHECK(config.mirrors[1].every == 6h);
  CHECK(config.mirrors[0].bandwidth_limit == 0);
  CHECK(config.mirrors[1].bandwidth_limit == 512 * 1024);
}

TEST_CASE("daemon and operation keys: defaults are closed and adaptive", "[config]") {
  const Config config = parse_config(M, "t.yaml");
  CHECK_FALSE(config.transfers);
  CHECK(config.initial_transfers() == 16);
  CHECK(config.socket == "/run/pnsync/pnsyncd.sock");
  CHECK(config.file_mode == 0640);
  CHECK(config.dir_mode == 02750);
  CHECK_FALSE(config.group);
  CHECK_FALSE(config.metrics_listen);
  CHECK(config.bandwidth_limit == 0);
  CHECK(parse_config("transfers: auto\n" + M, "t.yaml").transfers == std::nullopt);
  CHECK(parse_config("transfers: 6\n" + M, "t.yaml").initial_transfers() == 6);
}

TEST_CASE("the documented sample parses", "[config]") {
  const Config config = load_config(kFixtures / "sample.yaml");
  REQUIRE(config.credentials);
  CHECK(config.credentials->netrc);
  CHECK_FALSE(config.credentials->password_file);
  CHECK(config.mirrors.at(0).name() == "mimic-cxr/2.1.0");
}

TEST_CASE("parse_config and load_config agree (text round trip)", "[config]") {
  pnsync::config::test::TempDir dir;
  const std::string text = "transfers: 3\nretry_base: 500ms\n" + M;
  const auto file = dir.write("pnsync.yaml", text, 0644);
  const Config from_file = load_config(file);
  const Config from_text = parse_config(text, file);
  CHECK(from_file.source_file == file);
  CHECK(from_text.source_file == file);
  CHECK(from_file.transfers == 3);
  CHECK(from_text.transfers == 3);
  CHECK(from_file.retry_base == from_text.retry_base);
  CHECK(from_file.mirrors.at(0).dest == from_text.mirrors.at(0).dest);
}

TEST_CASE("loopback servers may use http", "[config]") {
  for (const char* server :
       {"http://127.0.0.1:8080", "http://localhost:1234", "http://[::1]:80", "http://127.9.9.9"}) {
    INFO(server);
    const Config config = parse_config(std::string("server: ") + server + "\n" + M, "t.yaml");
    CHECK(config.server == server);
  }
}

TEST_CASE("quoted scalars and YAML anchors are plain values", "[config]") {
  const Config config = parse_config(
      "transfers: \"12\"\nmax_host_connections: &n 5\nlisting_concurrency: *n\nretry_max: '2m'\n" +
          M,
      "t.yaml");
  CHECK(config.transfers == 12);
  CHECK(config.max_connections == 5);
  CHECK(config.listing_concurrency == 5);
  CHECK(config.retry_max == 2min);
}

TEST_CASE("ca_file must exist and be a readable file", "[config]") {
  pnsync::config::test::TempDir dir;
  const auto ca = dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
  const Config config = parse_config("ca_file: " + ca.string() + "\n" + M, "t.yaml");
  CHECK(config.ca_file == ca);
  CHECK_THAT(error_of("ca_file: " + dir.path().string() + "\n" + M),
             Contains("is not a regular file"));
  CHECK_THAT(error_of("ca_file: " + (dir.path() / "missing.pem").string() + "\n" + M),
             Contains("t.yaml:1: ca_file: cannot read \"" + (dir.path() / "missing.pem").string() +
                      "\": No such file or directory"));
}

TEST_CASE("load_config messages use the file name as given", "[config]") {
  SECTION("the example from the issue") {
    const auto file = kFixtures / "invalid_transfers.yaml";
    try {
      load_config(file);
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()) ==
            file.string() + ":7: transfers: must be 1..256 or auto, got \"x\"");
    }
  }
  SECTION("YAML syntax errors carry the line") {
    const auto file = kFixtures / "bad_syntax.yaml";
    CHECK_THROWS_WITH(load_config(file),
                      StartsWith(file.string() + ":5: ") && Contains("end of sequence flow"));
  }
  SECTION("a missing file") {
    CHECK_THROWS_WITH(load_config("no/such/pnsync.yaml"),
                      "no/such/pnsync.yaml: cannot read: No such file or directory");
  }
  SECTION("a directory") {
    pnsync::config::test::TempDir dir;
    CHECK_THROWS_WITH(load_config(dir.path()),
                      dir.path().string() + ": cannot read: Is a directory");
  }
  SECTION("an empty file") {
    pnsync::config::test::TempDir dir;
    const auto file = dir.write("empty.yaml", "");
    CHECK_THROWS_WITH(
        load_config(file),
        file.string() + ": the configuration is empty (at least mirrors is required)");
  }
}

TEST_CASE("ConfigError is a std::runtime_error", "[config]") {
  CHECK_THROWS_AS(parse_config("", "x.yaml"), std::runtime_error);
}

TEST_CASE("a ',' the YAML parser cannot place ends the parse with a message", "[config][fuzz]") {
  // Found by tests/fuzz/fuzz_config: yaml-cpp yields an empty document for the stray ',' without
  // consuming it, so YAML::LoadAll never returned and allocated until memory ran out.
  const std::string stray = " (a ',' separates the items of a [list] or {mapping})";
  CHECK(error_of("%YAML 1.2\n---\n,? b [a]\n:$c\n---\nsecond: doc\n") ==
        "t.yaml:3: unexpected \",\"" + stray);
  CHECK(error_of(",\n") == "t.yaml:1: unexpected \",\"" + stray);
  CHECK(error_of("{transfers: 4},\n") == "t.yaml:1: unexpected \",\"" + stray);
  CHECK(error_of(M + "---\n- a\n,\n") ==
        "t.yaml:4: a config file holds one YAML document, found a second");
}
