// SPDX-License-Identifier: MIT
// resolve_password(): the one place that reads a secret. Messages name files and sources but
// never include anything read from them.
#include "config/config.hpp"

#include "config/netrc.hpp"
#include "config/values.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pnsync::config {

namespace {

constexpr std::size_t kMaxSecretFile = std::size_t{64} * 1024;

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// A file descriptor closed on scope exit.
class Fd {
public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

// Reads a file holding a secret. `what` names it in messages ("password_file /etc/x"). With
// `private_only`, any group or other permission bit is refused, as ssh and ftp do.
std::string read_secret_file(const std::string& prefix, const std::string& what,
                             const std::filesystem::path& path, bool private_only) {
  // O_NONBLOCK: a FIFO in the way must fail the regular-file check, not hang the daemon.
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) throw ConfigError(prefix + what + ": cannot read: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw ConfigError(prefix + what + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw ConfigError(prefix + what + " is not a regular file");
  if (private_only && (st.st_mode & 077) != 0) {
    const char* how =
        (st.st_mode & 044) != 0 ? "readable by others" : "accessible by group or others";
    throw ConfigError(prefix + what + " is " + how + " (mode " + octal_mode(st.st_mode) +
                      "); run chmod 600");
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxSecretFile)
    throw ConfigError(prefix + what + " is too large (over 64 KiB) to be a credential file");
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ConfigError(prefix + what + ": cannot read: " + std::strerror(errno));
    content.append(buffer, static_cast<std::size_t>(n));
    if (content.size() > kMaxSecretFile)
      throw ConfigError(prefix + what + " is too large (over 64 KiB) to be a credential file");
  }
  return content;
}

// A password file holds one line: one trailing "\n" or "\r\n" is dropped, nothing else.
std::string password_line(const std::string& prefix, const std::string& what, std::string content) {
  if (content.ends_with("\r\n"))
    content.resize(content.size() - 2);
  else if (content.ends_with('\n'))
    content.pop_back();
  if (content.empty()) throw ConfigError(prefix + what + " is empty");
  if (content.find_first_of("\r\n") != std::string::npos)
    throw ConfigError(prefix + what + " holds more than one line; it must hold only the password");
  return content;
}

std::string from_password_file(const std::string& prefix, const std::filesystem::path& path) {
  const std::string what = "password_file " + path.string();
  return password_line(prefix, what, read_secret_file(prefix, what, path, true));
}

std::filesystem::path netrc_path() {
  if (const char* env = std::getenv("NETRC"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".netrc";
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir)
    return std::filesystem::path(pw->pw_dir) / ".netrc";
  return ".netrc";
}

std::string server_host(const std::string& prefix, const Config& config) {
  const auto origin = detail::parse_origin(config.server);
  if (!origin.value) throw ConfigError(prefix + "server: " + origin.error);
  return origin.value->host;
}

std::string from_netrc(const std::string& prefix, const Config& config, const std::string& user) {
  const std::filesystem::path path = netrc_path();
  const std::string what = "netrc " + path.string();
  const std::string text = read_secret_file(prefix, what, path, true);
  std::vector<detail::NetrcEntry> entries;
  try {
    entries = detail::parse_netrc(text, path.string());
  } catch (const ConfigError& e) {
    throw ConfigError(prefix + "netrc: " + e.what());
  }
  const std::string host = server_host(prefix, config);
  bool other_logins = false;
  const detail::NetrcEntry* entry = detail::find_netrc_entry(entries, host, user, &other_logins);
  if (!entry) {
    throw ConfigError(
        prefix + what + ": " +
        (other_logins ? "the entries for machine " + host + " are for another login than " + user
                      : "no entry for machine " + host + " (and no default entry)"));
  }
  const std::string where =
      prefix + "netrc " + path.string() + ":" + std::to_string(entry->line) + ": ";
  const std::string name =
      entry->is_default ? "the default entry" : "the entry for machine " + host;
  if (!entry->password) throw ConfigError(where + name + " has no password");
  if (entry->password->empty()) throw ConfigError(where + name + " has an empty password");
  return *entry->password;
}

}  // namespace

FoundPassword find_password(const Config& config) {
  if (!config.credentials) return {};
  const Credentials& credentials = *config.credentials;
  const std::string prefix = config.source_file.string() + ": ";
  if (credentials.password_file)
    return {from_password_file(prefix, *credentials.password_file),
            "password_file " + credentials.password_file->string()};
  if (credentials.netrc)
    return {from_netrc(prefix, config, credentials.username), "netrc " + netrc_path().string()};

  if (const char* env = std::getenv("PNSYNC_PASSWORD")) {
    if (*env == '\0') throw ConfigError(prefix + "$PNSYNC_PASSWORD is set but empty");
    return {env, "$PNSYNC_PASSWORD"};
  }
  std::string systemd = "$CREDENTIALS_DIRECTORY not set";
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && *dir) {
    const std::filesystem::path path = std::filesystem::path(dir) / "pnsync-password";
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      // systemd already keeps credentials private (mode 0400 on a private mount).
      const std::string what = "credential " + path.string();
      return {password_line(prefix, what, read_secret_file(prefix, what, path, false)), what};
    }
    systemd = path.string() + " does not exist";
  }
  throw ConfigError(
      prefix + "credentials: no password found for user " + credentials.username +
      "; tried password_file (not set), netrc (not enabled), $PNSYNC_PASSWORD (not set), "
      "$CREDENTIALS_DIRECTORY/pnsync-password (" +
      systemd + ")");
}

std::string resolve_password(const Config& config) {
  return find_password(config).password;
}

}  // namespace pnsync::config
