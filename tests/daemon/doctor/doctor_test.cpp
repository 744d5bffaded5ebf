// SPDX-License-Identifier: MIT
// pnsyncd --doctor (daemon/doctor/doctor.cpp): the whole run against the in-process HTTPS test
// server, its requests counted there, the configuration and password checks, the report, and
// `pnsyncctl doctor` as a process.
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

// --- the whole run against the test server -------------------------------------------------------

TEST_CASE("doctor: every check passes against a good server, with one request per mirror",
          "[doctor]") {
  MirrorFixture fixture({.tls = Tls::Trusted});
  const auto config_file = write_config(fixture);
  const DoctorRun run = run_doctor(config_file);
  INFO(run.out);
  CHECK(run.status == 0);
  for (const char* line :
       {"ok   configuration: ", "ok   credentials: password for jdoe read from password_file ",
        "ok   server: ", "ok   TLS: certificate of ", "ok   login: jdoe accepted",
        "ok   access mimic-cxr/2.0.0: HEAD ", "ok   dest mimic-cxr/2.0.0: ",
        "ok   privacy mimic-cxr/2.0.0: ", "ok   state_dir: ", "ok   sharing: "})
    CHECK(has_line(run.out, line));
  CHECK(run.out.find("all 10 checks passed") != std::string::npos);
  CHECK(run.out.find("FAIL") == std::string::npos);
  CHECK(run.out.find("WARN") == std::string::npos);
  CHECK(run.out.find(kPassword) == std::string::npos);
  // The login and the access share one request: a HEAD of the version root, with credentials
  // and the Wget/ user agent like every request of the engine.
  const auto requests = fixture.server->requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "HEAD");
  CHECK(requests[0].path == kFilesUrl);
  CHECK(requests[0].status == 200);
  CHECK(requests[0].user_agent.starts_with("Wget/"));
  CHECK(requests[0].authorization.starts_with("Basic "));
  // Nothing was left behind by the write probes, and no state database was created.
  CHECK_FALSE(std::filesystem::exists(fixture.dest));
  CHECK_FALSE(std::filesystem::exists(fixture.config.state_dir / "state.db"));
}

TEST_CASE("doctor: a wrong password fails the login after exactly one request, then stops",
          "[doctor]") {
  MirrorFixture fixture({.tls = Tls::Trusted});
  const std::string wrong = "not-the-Pa55word";
  const auto config_file = write_config(
      fixture, {.password = wrong,
                .extra_mirrors = "  - project: mimic-cxr-jpg\n    version: 2.1.0\n    dest: " +
                                 (fixture.sandbox / "jpg").string() + "\n"});
  const DoctorRun run = run_doctor(config_file);
  INFO(run.out);
  CHECK(run.status == 1);
  CHECK(has_line(run.out, "FAIL login: wrong username or password for jdoe"));
  CHECK(run.out.find("or the password in password_file " +
                     (fixture.sandbox / "password").string()) != std::string::npos);
  CHECK(run.out.find("PhysioNet locks an account") != std::string::npos);
  CHECK(has_line(run.out, "SKIP access mimic-cxr/2.0.0: not checked: the login was refused"));
  CHECK(has_line(run.out, "SKIP access mimic-cxr-jpg/2.1.0: not checked: the login was refused"));
  CHECK(run.out.find(wrong) == std::string::npos);
  const auto requests = fixture.server->requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].status == 401);
  // The local checks still run: they cost the account nothing.
  CHECK(has_line(run.out, "ok   dest mimic-cxr-jpg/2.1.0: "));
  CHECK(has_line(run.out, "ok   state_dir: "));
}

TEST_CASE("doctor: a 403 fails access to the project, naming it and what may be missing",
          "[doctor]") {
  MirrorFixture fixture({.tls = Tls::Trusted});
  fixture.server->set_fault(kFilesUrl, {.kind = Fault::Kind::Status, .status = 403});
  const DoctorRun run = run_doctor(write_config(fixture));
  INFO(run.out);
  CHECK(run.status == 1);
  CHECK(
      has_line(run.out, "ok   login: jdoe accepted; the server refused access to mimic-cxr/2.0.0"));
  CHECK(
      has_line(run.out, "FAIL access mimic-cxr/2.0.0: jdoe may not read mimic-cxr version 2.0.0"));
  CHECK(run.out.find("data use agreement for version 2.0.0") != std::string::npos);
  CHECK(run.out.find("training") != std::string::npos);
  CHECK(fixture.server->requests().size() == 1);
}

TEST_CASE("doctor: an unreachable server fails, naming the URL, and sends no request", "[doctor]") {
  MirrorFixture fixture({.tls = Tls::Trusted});
  const std::string live = fixture.config.server;
  fixture.server.reset();  // the port is now closed
  const DoctorRun run = run_doctor(write_config(fixture));
  INFO(run.out);
  CHECK(run.status == 1);
  CHECK(has_line(run.out, "FAIL server: cannot reach " + live + "/ (server in "));
  CHECK(has_line(run.out, "SKIP TLS: not checked: the server is unreachable"));
  CHECK(has_line(run.out, "SKIP login: "));
  CHECK(has_line(run.out, "SKIP access mimic-cxr/2.0.0: "));
}

TEST_CASE("doctor: a certificate that does not chain to ca_file fails TLS before any request",
          "[doctor]") {
  MirrorFixture fixture({.tls = Tls::Untrusted});
  const DoctorRun run = run_doctor(write_config(fixture));
  INFO(run.out);
  CHECK(run.status == 1);
  CHECK(has_line(run.out, "ok   server: "));
  CHECK(has_line(run.out, "FAIL TLS: " + fixture.config.server + ": "));
  CHECK(run.out.find("point ca_file in ") != std::string::npos);
  CHECK(has_line(run.out, "SKIP login: not checked: the TLS connection failed"));
  CHECK(fixture.server->requests().empty());
}

TEST_CASE("doctor: a bad configuration is the only check, with the loader's file:line message",
          "[doctor]") {
  Sandbox sandbox;
  const auto file = sandbox / "pnsync.yaml";
  write_file(file, "server: https://physionet.org\ntransfers: lots\n");
  const DoctorRun run = run_doctor(file);
  INFO(run.out);
  CHECK(run.status == 1);
  CHECK(has_line(run.out, "FAIL configuration: " + file.string() + ":2: transfers"));
  CHECK(run.out.find("1 check failed") != std::string::npos);
}

TEST_CASE("doctor: max_connections above 24 is a warning with the fix, 24 is not", "[doctor]") {
  Sandbox sandbox;
  const auto file = sandbox / "pnsync.yaml";
  const std::string mirror = "mirrors:\n  - project: p\n    version: '1'\n    dest: /tmp/x\n";
  write_file(file, "max_connections: 30\n" + mirror);
  const auto impolite = doctor::check_config(file);
  CHECK(impolite.result.status == Status::Warn);
  CHECK(impolite.result.detail.find("max_connections 30 is above 24") != std::string::npos);
  CHECK(impolite.result.fix.find("set max_connections to 20 or less") != std::string::npos);
  REQUIRE(impolite.value);  // a warning, not a failure: the configuration is still used
  write_file(file, "max_connections: 24\n" + mirror);
  CHECK(doctor::check_config(file).result.status == Status::Ok);
}

TEST_CASE("doctor: an unreadable or shared password file fails credentials, without the password",
          "[doctor]") {
  MirrorFixture fixture({.tls = Tls::Trusted});
  const auto config_file = write_config(fixture);
  ::chmod((fixture.sandbox / "password").c_str(), 0644);
  const DoctorRun run = run_doctor(config_file);
  INFO(run.out);
  CHECK(run.status == 1);
  CHECK(has_line(run.out, "FAIL credentials: " + config_file.string() + ": password_file " +
                              (fixture.sandbox / "password").string() + " is readable by others"));
  CHECK(has_line(run.out, "SKIP login: not checked: no password"));
  CHECK(run.out.find(kPassword) == std::string::npos);
  CHECK(fixture.server->requests().empty());
}

// --- output --------------------------------------------------------------------------------------

TEST_CASE("doctor: marks are symbols only in a UTF-8 locale", "[doctor]") {
  const auto [lc_all, lc_ctype, lang, utf8] =
      GENERATE(table<const char*, const char*, const char*, bool>({
          {nullptr, nullptr, "en_US.UTF-8", true},
          {nullptr, nullptr, "C.utf8", true},
          {"C", nullptr, "en_US.UTF-8", false},
          {"", "de_DE.UTF-8", "C", true},
          {nullptr, nullptr, "POSIX", false},
          {nullptr, nullptr, nullptr, false},
      }));
  CHECK(doctor::utf8_locale(lc_all, lc_ctype, lang) == utf8);
}

TEST_CASE("doctor: a result renders as one line, and its fix under a warning or failure",
          "[doctor]") {
  const doctor::CheckResult failed{"login", Status::Fail, "wrong", "fix it"};
  CHECK(doctor::render(failed, {false}) == "FAIL login: wrong\n     fix: fix it\n");
  CHECK(doctor::render(failed, {true}) == "\u2717 login: wrong\n  fix: fix it\n");
  const doctor::CheckResult fine{"TLS", Status::Ok, "verified", ""};
  CHECK(doctor::render(fine, {false}) == "ok   TLS: verified\n");
  CHECK(doctor::render(fine, {true}) == "\u2713 TLS: verified\n");
}

// --- pnsyncctl doctor as a process ---------------------------------------------------------------

TEST_CASE("pnsyncctl doctor runs pnsyncd --doctor and exits 1 with the file:line message",
          "[doctor][process]") {
  Sandbox sandbox;
  const auto file = sandbox / "pnsync.yaml";
  write_file(file,
             "server: https://physionet.org\nmirrors:\n  - project: mimic-cxr\n"
             "    version: latest\n    dest: /srv/physionet/x\n");
  const ProcessRun run =
      run_process(sandbox, {PNSYNCCTL_PATH, "doctor", "--config", file.string()});
  INFO(run.out << run.err);
  CHECK(run.status == 1);
  CHECK(has_line(run.out, "FAIL configuration: " + file.string() + ":4: "));
  CHECK(run.out.find("version") != std::string::npos);
}

TEST_CASE("pnsyncctl doctor passes against a good server and exits 0", "[doctor][process]") {
  MirrorFixture fixture({.tls = Tls::Trusted});
  const auto file = write_config(fixture);
  const ProcessRun run =
      run_process(fixture.sandbox, {PNSYNCCTL_PATH, "doctor", "--config", file.string()});
  INFO(run.out << run.err);
  CHECK(run.status == 0);
  CHECK(run.out.find("all 10 checks passed") != std::string::npos);
  CHECK(fixture.server->requests().size() == 1);
}

TEST_CASE("pnsyncctl doctor says so when pnsyncd cannot be found", "[doctor][process]") {
  if (std::filesystem::exists("/usr/sbin/pnsyncd")) {
    WARN("/usr/sbin/pnsyncd is installed: it would be found");
    return;
  }
  Sandbox sandbox;
  const auto lonely = sandbox / "bin" / "pnsyncctl";
  std::filesystem::create_directories(lonely.parent_path());
  std::filesystem::copy_file(PNSYNCCTL_PATH, lonely);
  const ProcessRun run =
      run_process(sandbox, {lonely.string(), "doctor"}, {"PATH=" + (sandbox / "empty").string()});
  INFO(run.out << run.err);
  CHECK(run.status == 127);
  CHECK(run.err.find("doctor needs pnsyncd") != std::string::npos);
  CHECK(run.err.find((sandbox / "bin" / "pnsyncd").string()) != std::string::npos);
  CHECK(run.err.find("/usr/sbin/pnsyncd") != std::string::npos);
}
