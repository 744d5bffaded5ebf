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

#include <openssl/crypto.h>

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
// `private_only`, any group or other permission bit is refused, as ssh and ftp do. The bytes are
// read straight into one buffer sized for the largest file accepted, so that no reallocation
// leaves a copy behind in freed memory.
Secret read_secret_file(const std::string& prefix, const std::string& what,
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
  const std::string too_large =
      prefix + what + " is too large (over 64 KiB) to be a credential file";
  if (static_cast<std::size_t>(st.st_size) > kMaxSecretFile) throw ConfigError(too_large);
  Secret content;
  std::string& buffer = content.edit();
  buffer.resize(kMaxSecretFile + 1);  // one byte more tells a file that grew past the limit
  std::size_t size = 0;
  while (size < buffer.size()) {
    const ssize_t n = ::read(fd.get(), buffer.data() + size, buffer.size() - size);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ConfigError(prefix + what + ": cannot read: " + std::strerror(errno));
    size += static_cast<std::size_t>(n);
  }
  if (size > kMaxSecretFile) throw ConfigError(too_large);
  buffer.resize(size);  // shrinking keeps the buffer
  return content;
}

// A password file holds one line: one trailing "\n" or "\r\n" is dropped, nothing else.
Secret password_line(const std::string& prefix, const std::string& what, Secret content) {
  std::string& text = content.edit();
  if (text.ends_with("\r\n"))
    text.resize(text.size() - 2);
  else if (text.ends_with('\n'))
    text.pop_back();
  if (text.empty()) throw ConfigError(prefix + what + " is empty");
  if (text.find_first_of("\r\n") != std::string::npos)
    throw ConfigError(prefix + what + " holds more than one line; it must hold only the password");
  return content;
}

Secret from_password_file(const std::string& prefix, const std::filesystem::path& path) {
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

Secret from_netrc(const std::string& prefix, const Config& config, const std::string& user) {
  const std::filesystem::path path = netrc_path();
  const std::string what = "netrc " + path.string();
  const Secret text = read_secret_file(prefix, what, path, true);
  std::vector<detail::NetrcEntry> entries;
  try {
    entries = detail::parse_netrc(text.view(), path.string());
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
    return {Secret(std::string(env)), "$PNSYNC_PASSWORD"};
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

Secret resolve_password(const Config& config) {
  return std::move(find_password(config).password);
}

void scrub_password_from_environment() {
  static constexpr std::string_view kName = "PNSYNC_PASSWORD=";
  // Every copy: putenv() or a hand-built environment may hold the name twice.
  for (;;) {
    char* string = nullptr;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry)
      if (std::string_view(*entry).starts_with(kName)) string = *entry;
    if (string == nullptr) return;
    // unsetenv() only drops the pointer from `environ`: the string stays where it is, and for a
    // variable inherited at exec that is the block /proc/PID/environ shows. So the string is
    // overwritten where it lies, name and value, once `environ` no longer points at it.
    const std::size_t length = std::strlen(string);
    ::unsetenv("PNSYNC_PASSWORD");
    OPENSSL_cleanse(string, length);
  }
}

}  // namespace pnsync::config
