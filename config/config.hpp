// SPDX-License-Identifier: MIT
// The YAML configuration as plain values. Parsing validates everything a running daemon relies on,
// so the engine never re-checks a setting.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/log_level.hpp"
#include "config/secret.hpp"

namespace pnsync::config {

// Every message starts with "FILE:LINE: key: " (or "FILE: " when no line applies), e.g.
// `pnsync.yaml:7: transfers: must be 1..256, got "x"`.
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// Rows of one of the project's own gzip CSV tables: column -> the values allowed in it. A row
// passes when every listed column holds one of its values (byte-exact).
using ColumnFilter = std::map<std::string, std::vector<std::string>, std::less<>>;

struct JoinSpec {
  std::string table;  // relative to the version root, *.csv.gz
  std::string on;     // a column of both tables
  ColumnFilter where;
  bool operator==(const JoinSpec&) const = default;
};

// `select:` picks files from the rows of a table of the dataset (see docs/config.md).
struct SelectSpec {
  std::string table;  // relative to the version root, *.csv.gz; fetched and verified first
  ColumnFilter where;
  std::optional<JoinSpec> join;  // keep only rows whose `on` value has a matching row there
  std::string path;              // a PathTemplate (config/path_template.hpp), checked at load
  bool with_reports = false;     // also files/p{subject_id:0:2}/p{subject_id}/s{study_id}.txt
  bool operator==(const SelectSpec&) const = default;
};

// Which files of a mirror are wanted. Every part is optional and they combine with AND; with
// none set, everything is mirrored. Globs and the template are validated when the config is
// loaded; files_from and the tables are read by the engine on each pass
// (daemon/plan/selection.hpp).
struct SelectionSpec {
  std::vector<std::string> include;  // config/glob.hpp patterns; empty: no restriction
  std::vector<std::string> exclude;  // wins over include
  std::optional<std::filesystem::path> files_from;  // absolute; one relative path per line
  std::optional<SelectSpec> select;
  bool delete_unselected = false;  // remove local files that are no longer selected
  bool restricts() const { return !include.empty() || !exclude.empty() || files_from || select; }
  bool operator==(const SelectionSpec&) const = default;
};

struct Mirror {
  std::string project;         // [a-z0-9-]+
  std::string version;         // digits and dots
  std::filesystem::path dest;  // absolute
  SelectionSpec selection{};
  std::chrono::seconds every{86400};  // daemon mode: a new pass this long after the last began
  std::int64_t bandwidth_limit = 0;   // bytes/s for this mirror's files; 0 = none
  std::string name() const { return project + "/" + version; }
};

using LogLevel = pnsync::LogLevel;  // the log's own levels; `log_level` never says notice

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
  // PEM CA certificates trusted for `server`: in addition to the system's (Debian:
  // /etc/ssl/certs), or instead of them with ca_replace_system (which needs ca_file).
  std::optional<std::filesystem::path> ca_file;
  bool ca_replace_system = false;
  std::filesystem::path state_dir = "/var/lib/pnsync";
  std::string user_agent = "Wget/1.21.3 (compatible; pnsync/0.1)";
  std::optional<Credentials> credentials;  // absent: anonymous (open projects, tests)
  // Files in flight: a number pins it (1..256); nullopt is `auto`, adaptive between 1 and
  // max_transfers (daemon/schedule/concurrency_controller.hpp).
  std::optional<int> transfers;
  // 1..256: the ceiling of `auto`. Many small files behind a round trip (and the server's
  // per-request permission check) need requests in flight; `auto` keeps only what pays.
  int max_transfers = 64;
  // TCP connections to the server at once, 1..256 (`max_host_connections` is the old name). A
  // server that limits each connection (physionet.org) gives more the more connections carry
  // the transfers, one each up to this bound; above it transfers share connections as HTTP/2
  // streams. 20 stays below the ~24 where physionet.org's connects start to hang; connect
  // time-outs lower it further (daemon/schedule/concurrency_controller.hpp).
  int max_connections = 20;
  // The most HTTP/2 requests one connection carries at once, once every connection allowed is
  // open (below that each request gets a connection of its own): the connections' count times
  // this bounds the requests in flight.
  int streams_per_connection = 4;  // 1..1000
  // A file of at least segment_size bytes may be fetched as up to `segments` byte ranges at once
  // (1 = never), each range taking a transfer slot the queue does not need; see
  // daemon/transfer/segment_plan.hpp. No range is split below segment_size / 8, or below a second
  // of its rate (at least 1 MiB) once ranges have run that long (Transfer::min_range_left).
  int segments = 8;                      // 1..32
  std::int64_t segment_size = 64 << 20;  // bytes, at least 1 MiB
  // 1..64 directory listings in flight. MIMIC-CXR 2.0.0 lists none of its ~293,000 directories
  // in its manifest; at 200 ms a listing (the server's permission check), 4 in flight is four
  // hours of crawling.
  int listing_concurrency = 16;
  std::chrono::seconds stall_timeout{60};  // no bytes for this long: retry
  // The longest wait a 429 or 503 Retry-After may impose on the host (1s..365d): a server that
  // asks for a year, by mistake or not, holds the mirror an hour and is then asked again.
  std::chrono::seconds retry_after_max{3600};
  // TCP connect and TLS handshake. Short: a server that has as many connections as it admits
  // lets further connects hang, and each hang holds a file until this runs out.
  std::chrono::seconds connect_timeout{10};
  int max_attempts = 8;  // transient failures before a file is marked failed
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_max{300000};
  std::chrono::seconds relist_after{86400};  // a complete crawl older than this is redone
  std::vector<Mirror> mirrors;               // at least one, unique names, non-overlapping dests

  // Daemon mode and control (pnsyncctl).
  std::filesystem::path socket = "/run/pnsync/pnsyncd.sock";
  std::optional<std::string> control_group;  // members may change things, not only read status
  std::int64_t bandwidth_limit = 0;          // bytes/s over all mirrors; 0 = none

  // Operation.
  LogLevel log_level = LogLevel::Info;
  unsigned file_mode = 0640;         // every file pnsync publishes, whatever the umask
  unsigned dir_mode = 02750;         // every directory pnsync creates
  std::optional<std::string> group;  // group (name) given to every file and directory created
  std::optional<std::string> metrics_listen;  // "HOST:PORT" for Prometheus /metrics; none = off

  // `auto` starts at 16: what physionet.org's users measured as about a 9x gain, below where its
  // connects start to hang (about 24), and what aria2c -j16 opens at once; slow start doubles
  // from there. From 8, the ramp to 18 connections was a fifth of a pass of large files
  // (docs/benchmarks.md, scenario 6).
  int initial_transfers() const { return transfers.value_or(std::min(16, max_transfers)); }
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
Secret resolve_password(const Config& config);

// The same, with where it came from: "password_file /etc/pnsync/password", "netrc /root/.netrc",
// "$PNSYNC_PASSWORD", "credential /run/credentials/pnsyncd.service/pnsync-password", or "" when
// `credentials` is absent. For messages (pnsyncd --doctor); `source` never holds the secret.
struct FoundPassword {
  Secret password;
  std::string source;
};
FoundPassword find_password(const Config& config);

// Removes $PNSYNC_PASSWORD from the environment, so that no child process inherits it, and
// overwrites it where it lay, so that /proc/PID/environ (which shows the block the process was
// started with, whatever unsetenv() did) no longer holds it. pnsyncd calls it once the password
// is read; nothing reads the variable again (a reload keeps the password it started with).
void scrub_password_from_environment();

}  // namespace pnsync::config
