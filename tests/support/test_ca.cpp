// SPDX-License-Identifier: MIT
#include "tests/support/test_ca.hpp"

#include "tests/support/sandbox.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace pnsync::test {
namespace fs = std::filesystem;

namespace {

// Runs `openssl args...` without a shell (no quoting worries), output appended to `log`.
void openssl(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv_storage = {"openssl"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_storage.size() + 1);
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  if (rc != 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv_storage) cmd += a + " ";
    throw std::runtime_error("make_test_ca: failed: " + cmd + "\n" + read_file(log));
  }
}

}  // namespace

TestCa make_test_ca(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path log = dir / "openssl.log";
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt",
                                           "ec_paramgen_curve:prime256v1", "-nodes"};
  const std::string names = "subjectAltName=DNS:localhost,IP:127.0.0.1";
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  TestCa ca{dir / "ca.pem", dir / "server.pem", dir / "server.key", dir / "rogue.pem",
            dir / "rogue.key"};
  const fs::path ca_key = dir / "ca.key";
  const fs::path csr = dir / "server.csr";
  const fs::path ext = dir / "server.ext";

  openssl(with({"req", "-x509", "-days", "3650", "-subj", "/CN=pnsync test CA", "-keyout",
                ca_key.string(), "-out", ca.ca_cert.string(), "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext",
                "keyUsage=critical,keyCertSign,cRLSign"},
               ec_key),
          log);
  openssl(with({"req", "-subj", "/CN=localhost", "-keyout", ca.server_key.string(), "-out",
                csr.string()},
               ec_key),
          log);
  write_file(ext, names +
                      "\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=serverAuth\n");
  openssl({"x509", "-req", "-days", "3650", "-in", csr.string(), "-CA", ca.ca_cert.string(),
           "-CAkey", ca_key.string(), "-CAcreateserial", "-out", ca.server_cert.string(),
           "-extfile", ext.string()},
          log);
  // Same names, same shape, but its own issuer: only a client that fails open would accept it.
  openssl(with({"req", "-x509", "-days", "3650", "-subj", "/CN=localhost", "-keyout",
                ca.rogue_key.string(), "-out", ca.rogue_cert.string(), "-addext", names},
               ec_key),
          log);
  return ca;
}

}  // namespace pnsync::test
