// SPDX-License-Identifier: MIT
// The YAML configuration as plain values. Parsing validates everything a running daemon relies on,
// so the engine never re-checks a setting.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pnsync::config {

// Every message starts with "FILE:LINE: key: " (or "FILE: " when no line applies), e.g.
// `pnsync.yaml:7: transfers: must be 1..256, got "x"`.
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct Mirror {
  std::string project;         // [a-z0-9-]+
  std::string version;         // digits and dots
  std::filesystem::path dest;  // absolute
  std::string name() const { return project + "/" + version; }
};

struct Credentials {
  std::string username;
  // At most one of the two is set after parsing; with neither, resolve_password() falls back to
  // $PNSYNC_PASSWORD and then $CREDENTIALS_DIRECTORY/pnsync-password.
  std::optional<std::filesystem::path> password_file;
  bool netrc = false;
};

struct Config {
  std::filesystem::path source_file;             // the file this was read from, for messages
  std::string server = "https://physionet.org";  // scheme://host[:port], no trailing slash
  std::optional<std::filesystem::path> ca_file;
  std::filesystem::path state_dir = "/var/lib/pnsync";
  std::string user_agent = "Wget/1.21.3 (compatible; pnsync/0.1)";
  std::optional<Credentials> credentials;  // absent: anonymous (open projects, tests)
  int transfers = 8;                       // 1..256 files in flight
  int max_host_connections = 8;            // 1..256
  int listing_concurrency = 4;             // 1..64 directory listings in flight
  std::chrono::seconds stall_timeout{60};  // no bytes for this long: retry
  std::chrono::seconds connect_timeout{30};
  int max_attempts = 8;  // transient failures before a file is marked failed
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_max{300000};
  std::chrono::seconds relist_after{86400};  // a complete crawl older than this is redone
  std::vector<Mirror> mirrors;               // at least one, unique names, non-overlapping dests
};

// Reads and validates a config file. Throws ConfigError.
Config load_config(const std::filesystem::path& file);
// The same from text (tests); `source_name` is used in messages.
Config parse_config(const std::string& yaml_text, const std::filesystem::path& source_name);

// Finds the password, in this order: password_file (refused when group- or world-readable),
// netrc (~/.netrc or $NETRC, machine = server host), $PNSYNC_PASSWORD,
// $CREDENTIALS_DIRECTORY/pnsync-password. A configured password_file or netrc is the only source
// tried. Returns "" when `credentials` is absent (anonymous). Throws ConfigError naming the source
// at fault; the message never contains the password.
std::string resolve_password(const Config& config);

}  // namespace pnsync::config
