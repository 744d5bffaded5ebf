// SPDX-License-Identifier: MIT
// resolve_password(): each source, its refusals, and that no message ever carries the password.
#include "config/config.hpp"
#include "config/netrc.hpp"

#include "tests/config/test_env.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <string_view>

using namespace pnsync::config;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using pnsync::config::test::EnvGuard;
using pnsync::config::test::TempDir;

namespace {

const std::string kMirror = "mirrors:\n  - {project: demo, version: 1.0.0, dest: /data/demo}\n";
constexpr const char* kSecret = "s3cr3t-Pa55";

Config with_credentials(const std::string& credentials_yaml,
                        const std::string& server = "https://physionet.org") {
  return parse_config("server: " + server + "\ncredentials:\n" + credentials_yaml + kMirror,
                      "t.yaml");
}

Config with_password_file(const std::filesystem::path& file) {
  return with_credentials("  username: jdoe\n  password_file: " + file.string() + "\n");
}

std::string error_of(const Config& config) {
  try {
    resolve_password(config);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// The environment every test starts from: no source outside the config.
struct CleanEnv {
  EnvGuard password{"PNSYNC_PASSWORD", std::nullopt};
  EnvGuard credentials_directory{"CREDENTIALS_DIRECTORY", std::nullopt};
  EnvGuard netrc{"NETRC", std::nullopt};
};

}  // namespace

TEST_CASE("password_file: one line, one trailing newline dropped", "[config][credentials]") {
  CleanEnv env;
  TempDir dir;
  auto [content, expected] = GENERATE(table<std::string, std::string>({
      {"s3cr3t-Pa55", "s3cr3t-Pa55"},
      {"s3cr3t-Pa55\n", "s3cr3t-Pa55"},
      {"s3cr3t-Pa55\r\n", "s3cr3t-Pa55"},
      {"pass with spaces  \n", "pass with spaces  "},
      {" lead\n", " lead"},
  }));
  CHECK(resolve_password(with_password_file(dir.write("password", content, 0600))).view() ==
        expected);
}

TEST_CASE("password_file: refused when group or others have any permission",
          "[config][credentials]") {
  CleanEnv env;
  TempDir dir;
  auto [mode, how] = GENERATE(table<int, std::string>({
      {0644, "is readable by others (mode 0644)"},
      {0640, "is readable by others (mode 0640)"},
      {0604, "is readable by others (mode 0604)"},
      {0620, "is accessible by group or others (mode 0620)"},
      {0601, "is accessible by group or others (mode 0601)"},
      {0666, "is readable by others (mode 0666)"},
  }));
  const auto file = dir.write("password", std::string(kSecret) + "\n", static_cast<mode_t>(mode));
  const std::string message = error_of(with_password_file(file));
  CHECK(message == "t.yaml: password_file " + file.string() + " " + how + "; run chmod 600");
  CHECK_THAT(message, !Contains(kSecret));
}

TEST_CASE("password_file: owner-only modes are accepted", "[config][credentials]") {
  CleanEnv env;
  TempDir dir;
  const mode_t mode = static_cast<mode_t>(GENERATE(0600, 0400, 0700));
  CHECK(resolve_password(with_password_file(dir.write("password", kSecret, mode))).view() ==
        kSecret);
}

TEST_CASE("password_file: other refusals never show the content", "[config][credentials]") {
  CleanEnv env;
  TempDir dir;
  SECTION("empty") {
    const auto file = dir.write("password", "", 0600);
    CHECK(error_of(with_password_file(file)) ==
          "t.yaml: password_file " + file.string() + " is empty");
  }
  SECTION("only a newline") {
    const auto file = dir.write("password", "\r\n", 0600);
    CHECK_THAT(error_of(with_password_file(file)), Contains("is empty"));
  }
  SECTION("two lines") {
    const auto file = dir.write("password", std::string(kSecret) + "\nsecond\n", 0600);
    const std::string message = error_of(with_password_file(file));
    CHECK_THAT(message, Contains("holds more than one line"));
    CHECK_THAT(message, !Contains(kSecret) && !Contains("second"));
  }
  SECTION("two newlines") {
    const auto file = dir.write("password", std::string(kSecret) + "\n\n", 0600);
    CHECK_THAT(error_of(with_password_file(file)),
               Contains("holds more than one line") && !Contains(kSecret));
  }
  SECTION("missing") {
    const auto file = dir.path() / "absent";
    CHECK(error_of(with_password_file(file)) ==
          "t.yaml: password_file " + file.string() + ": cannot read: No such file or directory");
  }
  SECTION("a directory") {
    CHECK_THAT(error_of(with_password_file(dir.path())), Contains("is not a regular file"));
  }
  SECTION("a FIFO is refused, not waited on") {
    const auto fifo = dir.path() / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(error_of(with_password_file(fifo)) ==
          "t.yaml: password_file " + fifo.string() + " is not a regular file");
  }
}

TEST_CASE("a configured password_file is the only source tried", "[config][credentials]") {
  CleanEnv env;
  EnvGuard password("PNSYNC_PASSWORD", "from-env");
  TempDir dir;
  CHECK(resolve_password(with_password_file(dir.write("password", "from-file\n"))).view() ==
        "from-file");
  CHECK_THAT(error_of(with_password_file(dir.path() / "absent")), Contains("cannot read"));
}

TEST_CASE("netrc: the grammar", "[config][credentials][netrc]") {
  using detail::find_netrc_entry;
  using detail::parse_netrc;
  SECTION("machines, tokens across lines, default, account, macdef") {
    const auto entries = parse_netrc(
        "machine example.org login other password x1\n"
        "macdef init\n"
        "cd /pub\n"
        "machine physionet.org password not-a-machine\n"
        "\n"
        "machine PhysioNet.org\n"
        "  login jdoe\n"
        "  account acct\n"
        "  password\n"
        "    hunter2\n"
        "default login anonymous password guest\n",
        "netrc");
    REQUIRE(entries.size() == 3);  // the macro body is skipped whole
    CHECK(entries[0].machine == "example.org");
    CHECK(entries[1].machine == "PhysioNet.org");
    CHECK(entries[1].line == 6);
    CHECK(entries[1].login == "jdoe");
    CHECK(entries[1].password->view() == "hunter2");
    CHECK(entries[2].is_default);
    CHECK(find_netrc_entry(entries, "physionet.org", "jdoe") == &entries[1]);
    CHECK(find_netrc_entry(entries, "example.org", "other") == &entries[0]);
    CHECK(find_netrc_entry(entries, "unknown.org", "anonymous") == &entries[2]);
    bool other = false;
    CHECK(find_netrc_entry(entries, "example.org", "jdoe", &other) == nullptr);
    CHECK(other);
  }
  SECTION("an entry without login matches any user") {
    const auto entries = parse_netrc("machine physionet.org password pw", "netrc");
    CHECK(find_netrc_entry(entries, "physionet.org", "jdoe") == &entries[0]);
  }
  SECTION("an empty file has no entries") {
    CHECK(parse_netrc("", "netrc").empty());
    CHECK(parse_netrc(" \n\t\n", "netrc").empty());
  }
  SECTION("malformed files: line numbers, never a token") {
    auto [text, expected] = GENERATE(table<std::string, std::string>({
        {"machine physionet.org login jdoe password s3cr3t-Pa55 tail-Pa55",
         "netrc:1: unexpected token (expected machine, default, login, password, account or "
         "macdef"},
        {"machine physionet.org\nlogin jdoe\npassword two s3cr3t-Pa55\n",
         "netrc:3: unexpected token"},
        {"\nmachine physionet.org login jdoe password",
         "netrc:2: \"password\" has no value at the end of the file"},
        {"machine", "netrc:1: \"machine\" has no value"},
        {"password s3cr3t-Pa55\nmachine physionet.org",
         "netrc:1: \"password\" comes before any machine or default"},
        {"s3cr3t-Pa55", "netrc:1: unexpected token"},
    }));
    INFO(text);
    try {
      parse_netrc(text, "netrc");
      FAIL("no error");
    } catch (const ConfigError& e) {
      const std::string message = e.what();
      CHECK_THAT(message, StartsWith(expected));
      CHECK_THAT(message, !Contains("s3cr3t") && !Contains("Pa55") && !Contains("two"));
    }
  }
}

TEST_CASE("netrc: resolve from $NETRC and $HOME/.netrc", "[config][credentials][netrc]") {
  CleanEnv env;
  EnvGuard password("PNSYNC_PASSWORD", "from-env");  // must be ignored: netrc is configured
  TempDir dir;
  const std::string netrc_creds = "  username: jdoe\n  netrc: true\n";

  SECTION("$NETRC, machine = host of server") {
    const auto file = dir.write("my-netrc",
                                "machine other.org login jdoe password wrong\n"
                                "machine physionet.org login jdoe password " +
                                    std::string(kSecret) + "\n",
                                0600);
    EnvGuard netrc("NETRC", file.string());
    CHECK(resolve_password(with_credentials(netrc_creds)).view() == kSecret);
  }
  SECTION("the port of the server is not part of the machine name") {
    const auto file = dir.write("netrc", "machine 127.0.0.1 login jdoe password local\n", 0600);
    EnvGuard netrc("NETRC", file.string());
    CHECK(resolve_password(with_credentials(netrc_creds, "http://127.0.0.1:8080")).view() ==
          "local");
  }
  SECTION("IPv6 server: the machine is the address without brackets") {
    const auto file = dir.write("netrc", "machine ::1 password six\n", 0600);
    EnvGuard netrc("NETRC", file.string());
    CHECK(resolve_password(with_credentials(netrc_creds, "http://[::1]:8080")).view() == "six");
  }
  SECTION("the default entry") {
    const auto file = dir.write(
        "netrc", "machine other.org password x\ndefault login jdoe password dflt\n", 0600);
    EnvGuard netrc("NETRC", file.string());
    CHECK(resolve_password(with_credentials(netrc_creds)).view() == "dflt");
  }
  SECTION("$HOME/.netrc when $NETRC is unset") {
    dir.write(".netrc", "machine physionet.org\n login jdoe\n password home-pw\n", 0600);
    EnvGuard home("HOME", dir.path().string());
    CHECK(resolve_password(with_credentials(netrc_creds)).view() == "home-pw");
  }
  SECTION("$NETRC set but empty falls back to $HOME/.netrc") {
    dir.write(".netrc", "machine physionet.org password home-pw\n", 0600);
    EnvGuard home("HOME", dir.path().string());
    EnvGuard netrc("NETRC", "");
    CHECK(resolve_password(with_credentials(netrc_creds)).view() == "home-pw");
  }
}

TEST_CASE("netrc: refusals", "[config][credentials][netrc]") {
  CleanEnv env;
  TempDir dir;
  const std::string netrc_creds = "  username: jdoe\n  netrc: true\n";
  const std::string good =
      "machine physionet.org login jdoe password " + std::string(kSecret) + "\n";

  SECTION("readable by others") {
    const auto file = dir.write("netrc", good, 0644);
    EnvGuard netrc("NETRC", file.string());
    const std::string message = error_of(with_credentials(netrc_creds));
    CHECK(message ==
          "t.yaml: netrc " + file.string() + " is readable by others (mode 0644); run chmod 600");
  }
  SECTION("missing") {
    const auto file = dir.path() / "absent";
    EnvGuard netrc("NETRC", file.string());
    CHECK(error_of(with_credentials(netrc_creds)) ==
          "t.yaml: netrc " + file.string() + ": cannot read: No such file or directory");
  }
  SECTION("no entry for the host") {
    const auto file =
        dir.write("netrc", "machine example.org login jdoe password " + std::string(kSecret), 0600);
    EnvGuard netrc("NETRC", file.string());
    const std::string message = error_of(with_credentials(netrc_creds));
    CHECK(message == "t.yaml: netrc " + file.string() +
                         ": no entry for machine physionet.org (and no default entry)");
  }
  SECTION("entries only for another login") {
    const auto file = dir.write(
        "netrc", "machine physionet.org login jane password " + std::string(kSecret), 0600);
    EnvGuard netrc("NETRC", file.string());
    const std::string message = error_of(with_credentials(netrc_creds));
    CHECK_THAT(message,
               Contains("the entries for machine physionet.org are for another login than jdoe"));
    CHECK_THAT(message, !Contains(kSecret));
  }
  SECTION("an entry without a password") {
    const auto file = dir.write("netrc", "\nmachine physionet.org login jdoe\n", 0600);
    EnvGuard netrc("NETRC", file.string());
    CHECK(error_of(with_credentials(netrc_creds)) ==
          "t.yaml: netrc " + file.string() +
              ":2: the entry for machine physionet.org has no password");
  }
  SECTION("malformed: the password is never echoed") {
    // A password with a space: its second half is a stray token.
    const auto file =
        dir.write("netrc", "machine physionet.org login jdoe\npassword s3cr3t Pa55word\n", 0600);
    EnvGuard netrc("NETRC", file.string());
    const std::string message = error_of(with_credentials(netrc_creds));
    CHECK_THAT(message, StartsWith("t.yaml: netrc: " + file.string() + ":2: unexpected token"));
    CHECK_THAT(message, !Contains("s3cr3t") && !Contains("Pa55word"));
  }
}

TEST_CASE("$PNSYNC_PASSWORD when no source is configured", "[config][credentials]") {
  CleanEnv env;
  const Config config = with_credentials("  username: jdoe\n");
  SECTION("set") {
    EnvGuard password("PNSYNC_PASSWORD", kSecret);
    CHECK(resolve_password(config).view() == kSecret);
  }
  SECTION("set but empty") {
    EnvGuard password("PNSYNC_PASSWORD", "");
    CHECK(error_of(config) == "t.yaml: $PNSYNC_PASSWORD is set but empty");
  }
  SECTION("wins over $CREDENTIALS_DIRECTORY") {
    TempDir dir;
    dir.write("pnsync-password", "from-systemd\n", 0400);
    EnvGuard credentials_directory("CREDENTIALS_DIRECTORY", dir.path().string());
    EnvGuard password("PNSYNC_PASSWORD", "from-env");
    CHECK(resolve_password(config).view() == "from-env");
  }
  SECTION("netrc: false is the same as no netrc") {
    EnvGuard password("PNSYNC_PASSWORD", "from-env");
    CHECK(resolve_password(with_credentials("  username: jdoe\n  netrc: false\n")).view() ==
          "from-env");
  }
}

TEST_CASE("$CREDENTIALS_DIRECTORY/pnsync-password (systemd LoadCredential)",
          "[config][credentials]") {
  CleanEnv env;
  TempDir dir;
  const Config config = with_credentials("  username: jdoe\n");
  EnvGuard credentials_directory("CREDENTIALS_DIRECTORY", dir.path().string());
  SECTION("read, one trailing newline dropped") {
    dir.write("pnsync-password", std::string(kSecret) + "\n", 0400);
    CHECK(resolve_password(config).view() == kSecret);
  }
  SECTION("empty") {
    dir.write("pnsync-password", "\n", 0400);
    CHECK(error_of(config) ==
          "t.yaml: credential " + (dir.path() / "pnsync-password").string() + " is empty");
  }
  SECTION("absent: listed among the sources tried") {
    CHECK(error_of(config) ==
          "t.yaml: credentials: no password found for user jdoe; tried password_file (not set), "
          "netrc (not enabled), $PNSYNC_PASSWORD (not set), "
          "$CREDENTIALS_DIRECTORY/pnsync-password (" +
              (dir.path() / "pnsync-password").string() + " does not exist)");
  }
}

TEST_CASE("no source at all: the message lists every source tried", "[config][credentials]") {
  CleanEnv env;
  CHECK(error_of(with_credentials("  username: jdoe\n")) ==
        "t.yaml: credentials: no password found for user jdoe; tried password_file (not set), "
        "netrc (not enabled), "
        "$PNSYNC_PASSWORD (not set), $CREDENTIALS_DIRECTORY/pnsync-password "
        "($CREDENTIALS_DIRECTORY not set)");
}

TEST_CASE("no credentials section: anonymous, no password", "[config][credentials]") {
  CleanEnv env;
  EnvGuard password("PNSYNC_PASSWORD", "unused");
  CHECK(resolve_password(parse_config(kMirror, "t.yaml")).empty());
}

TEST_CASE("scrub_password_from_environment: unset, and overwritten where it lay",
          "[config][credentials][secrets]") {
  CleanEnv env;
  EnvGuard password("PNSYNC_PASSWORD", kSecret);
  char* value = std::getenv("PNSYNC_PASSWORD");
  REQUIRE(value != nullptr);
  // The "NAME=value" string environ pointed at: unsetenv() alone leaves it intact.
  const char* string = value - std::strlen("PNSYNC_PASSWORD=");
  const std::size_t length = std::strlen(string);
  pnsync::config::scrub_password_from_environment();
  CHECK(std::getenv("PNSYNC_PASSWORD") == nullptr);
  const std::string_view memory(string, length);
  CHECK(memory.find(kSecret) == std::string_view::npos);
  CHECK(memory.find("PNSYNC_PASSWORD") == std::string_view::npos);
  // Nothing else is touched, and a second call finds nothing to do.
  CHECK(std::getenv("PATH") != nullptr);
  pnsync::config::scrub_password_from_environment();
}
