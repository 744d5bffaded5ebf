// SPDX-License-Identifier: MIT
// pnsyncd --doctor (daemon/doctor/doctor.hpp): each check against the in-process HTTPS test server
// or a sandbox, the judging functions from tables, the runner's requests counted on the server, and
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
#include "tests/daemon/mirror_fixture.hpp"
#include "tests/support/child_process.hpp"

using namespace pnsync;
using namespace pnsync::test;
using doctor::Status;

namespace {

constexpr const char* kFilesUrl = "/files/mimic-cxr/2.0.0/";

struct ConfigText {
  std::string password = kPassword;
  std::string extra_mirrors{};  // more "  - project: ..." entries
  std::string extra_keys{};     // more top-level keys
};

// The fixture's configuration as a YAML file, with the password in a 0600 file.
std::filesystem::path write_config(const MirrorFixture& fixture, const ConfigText& text = {}) {
  const auto password_file = fixture.sandbox / "password";
  write_file(password_file, text.password + "\n");
  ::chmod(password_file.c_str(), 0600);
  auto config_file = fixture.sandbox / "pnsync.yaml";
  std::string yaml = "server: " + fixture.config.server + "\n";
  if (fixture.config.ca_file) yaml += "ca_file: " + fixture.config.ca_file->string() + "\n";
  yaml +=
      "state_dir: " + fixture.config.state_dir.string() + "\n" + "connect_timeout: 5s\n" +
      "credentials:\n  username: " + kUser + "\n  password_file: " + password_file.string() + "\n" +
      text.extra_keys +
      "mirrors:\n  - project: mimic-cxr\n    version: 2.0.0\n    dest: " + fixture.dest.string() +
      "\n" + text.extra_mirrors;
  write_file(config_file, yaml);
  return config_file;
}

struct DoctorRun {
  int status = -1;
  std::string out;
};

DoctorRun run_doctor(const std::filesystem::path& config_file) {
  std::FILE* out = std::tmpfile();
  REQUIRE(out != nullptr);
  DoctorRun run;
  run.status = doctor::run_doctor(config_file, out, doctor::Style{false});
  std::rewind(out);
  char buffer[4096];
  while (const size_t got = std::fread(buffer, 1, sizeof buffer, out)) run.out.append(buffer, got);
  std::fclose(out);
  return run;
}

bool has_line(const std::string& out, const std::string& prefix) {
  return out.starts_with(prefix) || out.find("\n" + prefix) != std::string::npos;
}

HttpOutcome answered(long status) {
  HttpOutcome outcome;
  outcome.url = "https://physionet.org/files/mimic-cxr/2.0.0/";
  outcome.info.status = status;
  return outcome;
}

config::Config physionet_config() {
  config::Config config;
  config.source_file = "/etc/pnsync/pnsync.yaml";
  config.credentials = config::Credentials{"jdoe", std::nullopt, false};
  config.mirrors.push_back({"mimic-cxr", "2.0.0", "/srv/physionet/mimic-cxr/2.0.0"});
  return config;
}

}  // namespace

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

// --- dest ----------------------------------------------------------------------------------------

TEST_CASE("doctor: dest under a regular file is not writable", "[doctor]") {
  Sandbox sandbox;
  write_file(sandbox / "a-file", "x");
  const config::Mirror mirror{"mimic-cxr", "2.0.0", sandbox / "a-file" / "dest"};
  const doctor::CheckResult result = doctor::check_dest_writable(mirror, std::nullopt);
  INFO(result.detail);
  CHECK(result.status == Status::Fail);
  CHECK(result.detail.find((sandbox / "a-file").string() + " is not a directory") !=
        std::string::npos);
}

TEST_CASE("doctor: dest without write permission fails for the user who runs the check",
          "[doctor]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot switch to uid nobody; this case needs root (as CI runs it)");
    return;
  }
  Sandbox sandbox;
  const auto dest = sandbox / "dest";
  std::filesystem::create_directory(dest);
  ::chmod(sandbox.path().c_str(), 0711);  // nobody may pass through the sandbox
  REQUIRE(::chown(dest.c_str(), 65534, 65534) == 0);
  ::chmod(dest.c_str(), 0500);
  const config::Mirror mirror{"mimic-cxr", "2.0.0", dest};
  // Root may write anyway, which is why `pnsyncctl doctor` suggests running as pnsyncd's user.
  CHECK(doctor::check_dest_writable(mirror, std::nullopt).status == Status::Ok);

  // The child only checks and exits: no test server runs, so this process has no other thread.
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(10);
    const doctor::CheckResult result = doctor::check_dest_writable(mirror, std::nullopt);
    const bool names_it = result.detail.find("cannot create a file in " + dest.string() +
                                             ": Permission denied") != std::string::npos;
    ::_exit(result.status == Status::Fail && names_it ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("doctor: free space is compared with what the state database says remains", "[doctor]") {
  MirrorFixture fixture;
  const config::Mirror& mirror = fixture.config.mirrors.front();
  // No database yet: nothing is known, and nothing is created.
  CHECK_FALSE(doctor::bytes_to_fetch(fixture.config.state_dir, mirror));
  CHECK_FALSE(std::filesystem::exists(fixture.config.state_dir / "state.db"));
  REQUIRE(fixture.run() == ExitCode::Ok);
  const auto remaining = doctor::bytes_to_fetch(fixture.config.state_dir, mirror);
  REQUIRE(remaining);
  CHECK(*remaining == 0);
  const doctor::CheckResult result = doctor::check_dest_writable(mirror, remaining);
  CHECK(result.status == Status::Ok);
  CHECK(result.detail.find("0 B still to fetch") != std::string::npos);
  const doctor::CheckResult too_much =
      doctor::check_dest_writable(mirror, std::int64_t{1} << 62);  // 4 EiB
  CHECK(too_much.status == Status::Fail);
  CHECK(too_much.detail.find(fixture.dest.string()) != std::string::npos);
  CHECK(too_much.detail.find("still to fetch") != std::string::npos);
}

TEST_CASE("doctor: a dest others can read is a warning, a closed parent keeps them out",
          "[doctor]") {
  Sandbox sandbox;
  config::Config config = physionet_config();
  const auto dest = sandbox / "physionet" / "dest";
  write_file(dest / "files" / "p10" / "s1.txt", "FINAL REPORT\n");
  ::chmod((dest / "files" / "p10" / "s1.txt").c_str(), 0644);
  ::chmod(dest.c_str(), 0755);
  const config::Mirror mirror{"mimic-cxr", "2.0.0", dest};

  ::chmod(sandbox.path().c_str(), 0700);  // as mkdtemp makes it
  doctor::CheckResult result = doctor::check_dest_private(config, mirror);
  INFO(result.detail);
  CHECK(result.status == Status::Ok);
  CHECK(result.detail.find(sandbox.path().string() + " is mode 0700") != std::string::npos);

  ::chmod(sandbox.path().c_str(), 0755);
  ::chmod((sandbox / "physionet").c_str(), 0755);
  result = doctor::check_dest_private(config, mirror);
  INFO(result.detail);
  CHECK(result.status == Status::Warn);
  CHECK(result.detail.find(dest.string() + " is mode 0755") != std::string::npos);
  CHECK(result.detail.find((dest / "files" / "p10" / "s1.txt").string() + ", mode 0644") !=
        std::string::npos);
  CHECK(result.fix.find("chmod -R o-rwx " + dest.string()) != std::string::npos);

  ::chmod(dest.c_str(), 02750);
  result = doctor::check_dest_private(config, mirror);
  INFO(result.detail);
  CHECK(result.status == Status::Ok);
}

TEST_CASE(
    "doctor: file_mode, dir_mode or metrics_listen open to others fails sharing, with the fix",
    "[doctor]") {
  config::Config config = physionet_config();
  doctor::CheckResult result = doctor::check_sharing(config);
  INFO(result.detail);
  CHECK(result.status == Status::Ok);
  CHECK(result.detail ==
        "file_mode 0640, dir_mode 2750 and metrics_listen (off) give others nothing");

  config.metrics_listen = "127.0.0.1:9464";
  CHECK(doctor::check_sharing(config).status == Status::Ok);
  config.metrics_listen = "[::1]:9464";
  CHECK(doctor::check_sharing(config).status == Status::Ok);

  const auto [setting, value, says, fix] =
      GENERATE(table<std::string, std::string, std::string, std::string>({
          {"file_mode", "0644", "file_mode 0644 in /etc/pnsync/pnsync.yaml gives others read (o+r)",
           "set file_mode 0640"},
          {"dir_mode", "2755",
           "dir_mode 2755 in /etc/pnsync/pnsync.yaml gives others read and "
           "execute (o+rx)",
           "set dir_mode 2750"},
          {"metrics_listen", "0.0.0.0:9464",
           "metrics_listen 0.0.0.0:9464 in /etc/pnsync/pnsync.yaml is not a loopback address",
           "set metrics_listen to 127.0.0.1:PORT"},
          {"metrics_listen", "192.0.2.7:9464", "metrics_listen 192.0.2.7:9464", "127.0.0.1:PORT"},
      }));
  config = physionet_config();
  if (setting == "file_mode") config.file_mode = 0644;
  if (setting == "dir_mode") config.dir_mode = 02755;
  if (setting == "metrics_listen") config.metrics_listen = value;
  result = doctor::check_sharing(config);
  INFO(result.detail);
  CHECK(result.status == Status::Fail);
  CHECK_THAT(result.detail, Catch::Contains(says));
  CHECK_THAT(result.detail, Catch::Contains("data use agreement forbids sharing the data"));
  CHECK_THAT(result.fix, Catch::Contains(fix));
}

TEST_CASE("doctor: an open file_mode fails the whole run (exit 1), not only warns", "[doctor]") {
  MirrorFixture fixture({.tls = Tls::Trusted});
  const auto config_file = write_config(fixture, {.extra_keys = "file_mode: 0644\n"});
  const DoctorRun run = run_doctor(config_file);
  INFO(run.out);
  CHECK(run.status == 1);
  CHECK(has_line(run.out, "FAIL sharing: file_mode 0644 in " + config_file.string()));
  CHECK(has_line(run.out, "     fix: set file_mode 0640 (the default)"));
}

// --- state_dir -----------------------------------------------------------------------------------

TEST_CASE("doctor: network file systems are recognised by their statfs magic", "[doctor]") {
  const auto [f_type, name] = GENERATE(table<std::int64_t, std::string>({
      {0x6969, "NFS"},
      {0x517B, "SMB"},
      {0xFF534D42, "CIFS"},
      {static_cast<std::int32_t>(0xFF534D42), "CIFS"},  // a 32-bit signed f_type
      {0xFE534D42, "SMB2"},
      {0x00C36400, "Ceph"},
      {0x65735546, "FUSE"},
      {0x0BD00BD0, "Lustre"},
      {0xEF53, ""},      // ext2/3/4
      {0x58465342, ""},  // XFS
      {0x9123683E, ""},  // Btrfs
      {0x01021994, ""},  // tmpfs
      {0x794C7630, ""},  // overlayfs
      {0x2FC12FC1, ""},  // ZFS
  }));
  const auto found = doctor::network_filesystem(f_type);
  INFO(f_type);
  CHECK(std::string(found.value_or("")) == name);
}

TEST_CASE("doctor: state_dir on a local file system is fine, under a file it fails", "[doctor]") {
  Sandbox sandbox;
  config::Config config = physionet_config();
  config.state_dir = sandbox / "state";
  doctor::CheckResult result = doctor::check_state_dir(config);
  INFO(result.detail);
  CHECK(result.status == Status::Ok);
  CHECK_FALSE(std::filesystem::exists(config.state_dir));  // the check creates nothing

  write_file(sandbox / "a-file", "x");
  config.state_dir = sandbox / "a-file" / "state";
  result = doctor::check_state_dir(config);
  INFO(result.detail);
  CHECK(result.status == Status::Fail);
  CHECK(result.detail.find((sandbox / "a-file").string()) != std::string::npos);
}

TEST_CASE("doctor: a damaged state database fails state_dir, naming it", "[doctor]") {
  Sandbox sandbox;
  config::Config config = physionet_config();
  config.state_dir = sandbox / "state";
  write_file(config.state_dir / "state.db", std::string(8192, 'x'));
  const doctor::CheckResult result = doctor::check_state_dir(config);
  INFO(result.detail);
  CHECK(result.status == Status::Fail);
  CHECK(result.detail.find((config.state_dir / "state.db").string()) != std::string::npos);
}

TEST_CASE("doctor: a state database damaged past what opening reads fails its quick_check",
          "[doctor]") {
  Sandbox sandbox;
  config::Config config = physionet_config();
  config.state_dir = sandbox / "state";
  const auto db = config.state_dir / "state.db";
  std::filesystem::create_directories(config.state_dir);
  { store::Store store(db); }  // the schema pnsyncd makes
  {
    // Pages at the end of the file that opening the store never reads.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw,
                         "PRAGMA journal_mode=DELETE; CREATE TABLE filler(x); "
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                         "WHERE i < 2000) INSERT INTO filler SELECT randomblob(100) FROM n;",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  doctor::CheckResult result = doctor::check_state_dir(config);
  INFO(result.detail);
  REQUIRE(result.status == Status::Ok);
  CHECK_THAT(result.detail, Catch::EndsWith("state.db passes quick_check"));

  // Overwrite one b-tree page of filler, two pages before the end, with garbage.
  const auto size = std::filesystem::file_size(db);
  {
    std::FILE* file = std::fopen(db.c_str(), "r+b");
    REQUIRE(file != nullptr);
    std::fseek(file, static_cast<long>(size - 2 * 4096), SEEK_SET);
    const std::string garbage(4096, '\xA5');
    std::fwrite(garbage.data(), 1, garbage.size(), file);
    std::fclose(file);
  }
  { store::Store reopened(db); }  // pnsyncd itself would start on it
  result = doctor::check_state_dir(config);
  INFO(result.detail);
  CHECK(result.status == Status::Fail);
  CHECK_THAT(result.detail, Catch::Contains(db.string()));
  CHECK_THAT(result.fix, Catch::Contains("move " + db.string() + " aside"));
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

namespace {}  // namespace

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
