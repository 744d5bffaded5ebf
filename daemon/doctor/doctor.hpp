// SPDX-License-Identifier: MIT
// `pnsyncd --doctor`: checks, in order, everything a mirror needs before it can run — the
// configuration, the password, the server, the login, access to each project, each dest and the
// state directory — and says how to fix what fails. Each check is a small function returning a
// CheckResult; the ones that judge a server's answer take the answer and do no I/O, so tables can
// test them. run_doctor() sequences them, makes the requests and prints.
//
// Politeness: the login is tested by exactly one request, and a 401 stops every further
// authenticated request (PhysioNet locks accounts after repeated failed logins).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "daemon/net/http_client.hpp"

namespace pnsync::doctor {

enum class Status { Ok, Warn, Fail, Skipped };

struct CheckResult {
  std::string name;  // "configuration", "credentials", "server", "TLS", "login", "access", ...
  Status status = Status::Ok;
  std::string detail;  // what was found; names the file, URL or setting
  std::string fix;     // what to do about it (Warn and Fail)
};

// A check that also yields what later checks need (the loaded configuration, the password).
template <typename T>
struct Checked {
  CheckResult result;
  std::optional<T> value;  // set unless result.status is Fail
};

// 1. The configuration loads and validates; on failure the loader's "file:line: key: ..." text.
Checked<config::Config> check_config(const std::filesystem::path& file);

// 1b. Nothing the configuration sets opens the data or its names to others (config/exposure.hpp:
// file_mode, dir_mode, metrics_listen). Fails, with the fix: the data use agreement forbids
// sharing the data with anyone who has not signed it.
CheckResult check_sharing(const config::Config& config);

// 2. The password source is readable and private (resolve_password's rules). The value is the
// password and where it came from (both empty without credentials: anonymous). Never puts the
// password in the text.
Checked<config::FoundPassword> check_credentials(const config::Config& config);

// The file the packaged unit hands over as the pnsync-password credential
// (LoadCredential=pnsync-password:/etc/pnsync/password in systemd/pnsyncd.service; a test keeps
// the two equal).
inline constexpr const char* kPackagedCredentialSource = "/etc/pnsync/password";

// When the configuration names no password source and $PNSYNC_PASSWORD is unset, the password
// can only be systemd's credential: says why it is missing and how to fix it, from
// `credentials_directory` ($CREDENTIALS_DIRECTORY, or null outside a unit) and the unit's
// `credential_source`. `error` is find_password()'s message. Always a failure.
CheckResult explain_missing_credential(const config::Config& config, const std::string& error,
                                       const char* credentials_directory,
                                       const std::filesystem::path& credential_source);

// 3. DNS and TCP to `server`, then TLS (with ca_file when set), from one connect_only() probe.
CheckResult check_reachable(const config::Config& config, const ConnectOutcome& probe);
CheckResult check_tls(const config::Config& config, const ConnectOutcome& probe);

// The URL whose answer tests a mirror's access (and, for the first mirror, the login): its version
// root, which exists for every published version (SHA256SUMS.txt may not).
std::string probe_url(const config::Config& config, const config::Mirror& mirror);

// 4. The login, judged from the answer to the single probe of the first mirror. 401 fails
// ("wrong username or password", naming `password_source`); 403 counts as a login the server
// accepted unless the user_agent makes physionet.org ignore Basic credentials.
CheckResult check_login(const config::Config& config, const HttpOutcome& probe,
                        std::string_view password_source);

// 5. Access to one mirror's project version, from the answer to its probe.
CheckResult check_access(const config::Config& config, const config::Mirror& mirror,
                         const HttpOutcome& probe);

// 6. dest: writable (a temporary file is created in it, or in its nearest existing parent when
// pnsyncd has yet to create it, and removed), and free space, against `bytes_to_fetch` when the
// state database knows the mirror's total.
CheckResult check_dest_writable(const config::Mirror& mirror,
                                std::optional<std::int64_t> bytes_to_fetch);
// 6. dest is closed to others: the data use agreement forbids sharing the data with anyone who
// has not signed it. Warns when others can reach dest (every existing parent lets them through)
// and dest itself or a sampled file or directory below it is open to them (the settings that
// would create them so are check_sharing's).
CheckResult check_dest_private(const config::Config& config, const config::Mirror& mirror);
// What is left to fetch for `mirror` by the state database in `state_dir` (verified bytes taken
// off the total), when it has completed a crawl of the mirror; nullopt otherwise. Never creates
// the database.
std::optional<std::int64_t> bytes_to_fetch(const std::filesystem::path& state_dir,
                                           const config::Mirror& mirror);

// 7. state_dir: writable and on a local file system (SQLite's locking is unreliable on network
// file systems).
CheckResult check_state_dir(const config::Config& config);
// The name of a network file system by its statfs(2) f_type, nullopt for a local one.
std::optional<std::string_view> network_filesystem(std::int64_t f_type);

// Whether the marks can be ✓ ✗ (a UTF-8 locale by $LC_ALL, else $LC_CTYPE, else $LANG, the first
// one set and non-empty); otherwise the words ok, WARN, FAIL, SKIP.
bool utf8_locale(const char* lc_all, const char* lc_ctype, const char* lang);

struct Style {
  bool symbols = false;  // ✓ ! ✗ - instead of ok WARN FAIL SKIP
};

// Prints one result: "✓ name: detail", and "    fix: ..." under a warning or failure.
std::string render(const CheckResult& result, const Style& style);

// Runs every check against the configuration in `file`, printing each result to `out` as it
// completes and a summary line at the end. Returns the exit status: 0 when nothing failed
// (warnings alone included), 1 when a check failed.
int run_doctor(const std::filesystem::path& file, std::FILE* out, const Style& style);

}  // namespace pnsync::doctor
