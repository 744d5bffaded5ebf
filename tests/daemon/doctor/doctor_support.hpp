// SPDX-License-Identifier: MIT
// What the tests of pnsyncd --doctor share: the fixture's configuration as a file, a whole run
// captured, and answers and configurations to judge.
#pragma once

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "daemon/doctor/doctor.hpp"
#include "tests/daemon/mirror_fixture.hpp"

namespace pnsync::test {

inline constexpr const char* kFilesUrl = "/files/mimic-cxr/2.0.0/";

struct ConfigText {
  std::string password = kPassword;
  std::string extra_mirrors{};  // more "  - project: ..." entries
  std::string extra_keys{};     // more top-level keys
};

// The fixture's configuration as a YAML file, with the password in a 0600 file.
inline std::filesystem::path write_config(const MirrorFixture& fixture,
                                          const ConfigText& text = {}) {
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

inline DoctorRun run_doctor(const std::filesystem::path& config_file) {
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

inline bool has_line(const std::string& out, const std::string& prefix) {
  return out.starts_with(prefix) || out.find("\n" + prefix) != std::string::npos;
}

inline HttpOutcome answered(long status) {
  HttpOutcome outcome;
  outcome.url = "https://physionet.org/files/mimic-cxr/2.0.0/";
  outcome.info.status = status;
  return outcome;
}

inline config::Config physionet_config() {
  config::Config config;
  config.source_file = "/etc/pnsync/pnsync.yaml";
  config.credentials = config::Credentials{"jdoe", std::nullopt, false};
  config.mirrors.push_back({"mimic-cxr", "2.0.0", "/srv/physionet/mimic-cxr/2.0.0"});
  return config;
}

}  // namespace pnsync::test
