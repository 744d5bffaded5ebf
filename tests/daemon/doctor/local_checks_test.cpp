// SPDX-License-Identifier: MIT
// This host's checks of pnsyncd --doctor (daemon/doctor/local_checks.cpp) in a sandbox: dest
// writable, its free space, its privacy, and state_dir.
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
