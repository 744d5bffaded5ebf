// SPDX-License-Identifier: MIT
// The server's checks of pnsyncd --doctor (daemon/doctor/server_checks.cpp), judged from
// tables of answers: the login, access per mirror, and reachability.
#include "daemon/doctor/doctor.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "store/store.hpp"
#include "tests/daemon/doctor/doctor_support.hpp"
#include "tests/daemon/mirror_fixture.hpp"
#include "tests/support/child_process.hpp"

using namespace pnsync;
using namespace pnsync::test;
using doctor::Status;

// --- judging the answers -------------------------------------------------------------------------

TEST_CASE("doctor: a missing LoadCredential password is explained, with the fix", "[doctor]") {
  Sandbox sandbox;
  const config::Config config = physionet_config();  // credentials: username only
  const std::string error = "/etc/pnsync/pnsync.yaml: credentials: no password found";
  const auto source = sandbox / "etc-pnsync-password";
  SECTION("outside systemd, and the file the unit hands over does not exist") {
    const doctor::CheckResult result =
        doctor::explain_missing_credential(config, error, nullptr, source);
    INFO(result.detail);
    CHECK(result.status == Status::Fail);
    CHECK_THAT(result.detail, Catch::StartsWith(error));
    CHECK_THAT(result.detail,
               Catch::Contains("LoadCredential=pnsync-password:" + source.string()) &&
                   Catch::Contains(source.string() + " does not exist: systemd refuses to start "
                                                     "pnsyncd.service without it"));
    CHECK(result.fix == "install -m 600 -o root -g root /dev/null " + source.string() +
                            " and write the password in it, on one line (docs/operations.md, "
                            "First start)");
  }
  SECTION("outside systemd, and the file exists: run the check the way the unit runs") {
    write_file(source, "pw\n");
    const doctor::CheckResult result =
        doctor::explain_missing_credential(config, error, nullptr, source);
    INFO(result.detail);
    CHECK(result.status == Status::Fail);
    CHECK_THAT(result.detail, Catch::Contains(source.string() + " exists, but only systemd"));
    CHECK_THAT(result.fix,
               Catch::StartsWith("run the check as the service runs: systemd-run") &&
                   Catch::Contains("-p LoadCredential=pnsync-password:" + source.string()));
  }
  SECTION("under systemd, with credentials under another name") {
    const auto dir = sandbox / "credentials";
    write_file(dir / "password", "pw\n");
    const doctor::CheckResult result =
        doctor::explain_missing_credential(config, error, dir.c_str(), source);
    INFO(result.detail);
    CHECK(result.status == Status::Fail);
    CHECK_THAT(result.detail, Catch::Contains("systemd passed credentials in " + dir.string() +
                                              " (password), but none named pnsync-password"));
    CHECK_THAT(result.fix, Catch::Contains("systemctl cat pnsyncd"));
  }
  SECTION("check_credentials gives this explanation when no other source is configured") {
    const char* saved = std::getenv("CREDENTIALS_DIRECTORY");
    const std::optional<std::string> restore =
        saved ? std::optional<std::string>(saved) : std::nullopt;
    ::unsetenv("CREDENTIALS_DIRECTORY");
    REQUIRE(std::getenv("PNSYNC_PASSWORD") == nullptr);
    const auto checked = doctor::check_credentials(config);
    if (restore) ::setenv("CREDENTIALS_DIRECTORY", restore->c_str(), 1);
    INFO(checked.result.detail);
    CHECK(checked.result.status == Status::Fail);
    CHECK_THAT(checked.result.detail,
               Catch::Contains("LoadCredential=pnsync-password:/etc/pnsync/password"));
  }
}

TEST_CASE("doctor: the login is judged from the status of its one request", "[doctor]") {
  const auto [status, user_agent, expected,
              says] = GENERATE(table<long, std::string, Status, std::string>({
      {200, "Wget/1.21.3", Status::Ok, "jdoe accepted"},
      {401, "Wget/1.21.3", Status::Fail, "wrong username or password for jdoe"},
      {403, "Wget/1.21.3", Status::Ok, "accepted; the server refused access to mimic-cxr/2.0.0"},
      {403, "curl/7.88", Status::Fail, "user_agent \"curl/7.88\""},
      {404, "Wget/1.21.3", Status::Warn, "not judged"},
      {503, "Wget/1.21.3", Status::Fail, "503"},
      {302, "Wget/1.21.3", Status::Fail, "302"},
  }));
  config::Config config = physionet_config();
  config.user_agent = user_agent;
  const doctor::CheckResult result =
      doctor::check_login(config, answered(status), "password_file /etc/pnsync/password");
  INFO(result.detail);
  CHECK(result.status == expected);
  CHECK(result.detail.find(says) != std::string::npos);
  CHECK((result.status == Status::Ok) == result.fix.empty());
}

TEST_CASE("doctor: access is judged per mirror, naming the project and version", "[doctor]") {
  const auto [status, anonymous, expected, says] = GENERATE(table<long, bool, Status, std::string>({
      {200, false, Status::Ok, "HEAD https://physionet.org/files/mimic-cxr/2.0.0/ -> 200 OK"},
      {403, false, Status::Fail, "jdoe may not read mimic-cxr version 2.0.0"},
      {403, true, Status::Fail, "anonymous may not read mimic-cxr version 2.0.0"},
      {401, true, Status::Fail, "mimic-cxr/2.0.0 needs a login"},
      {401, false, Status::Fail, "wrong username or password"},
      {404, false, Status::Fail, "no project mimic-cxr version 2.0.0"},
      {429, false, Status::Fail, "429"},
  }));
  config::Config config = physionet_config();
  if (anonymous) config.credentials.reset();
  const doctor::CheckResult result =
      doctor::check_access(config, config.mirrors.front(), answered(status));
  INFO(result.detail);
  CHECK(result.name == "access mimic-cxr/2.0.0");
  CHECK(result.status == expected);
  CHECK(result.detail.find(says) != std::string::npos);
}

TEST_CASE("doctor: reachability failures name the URL and point at DNS or the network",
          "[doctor]") {
  const auto [code, connected, expected, fix_mentions] =
      GENERATE(table<int, bool, Status, std::string>({
          {CURLE_OK, true, Status::Ok, ""},
          {CURLE_COULDNT_RESOLVE_HOST, false, Status::Fail, "DNS"},
          {CURLE_COULDNT_CONNECT, false, Status::Fail, "firewall"},
          {CURLE_OPERATION_TIMEDOUT, false, Status::Fail, "connect_timeout"},
          {CURLE_PEER_FAILED_VERIFICATION, true, Status::Ok, ""},  // reached; TLS judges it
      }));
  const config::Config config = physionet_config();
  ConnectOutcome probe;
  probe.url = "https://physionet.org/";
  probe.curl_code = code;
  probe.curl_error = "curl says no";
  probe.connected = connected;
  const doctor::CheckResult result = doctor::check_reachable(config, probe);
  INFO(result.detail);
  CHECK(result.status == expected);
  CHECK(result.detail.find("https://physionet.org/") != std::string::npos);
  CHECK(result.fix.find(fix_mentions) != std::string::npos);
}
