// SPDX-License-Identifier: MIT
#include "daemon/doctor/doctor.hpp"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/progress.hpp"
#include "config/exposure.hpp"
#include "config/values.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/net/http_policy.hpp"
#include "store/store.hpp"

namespace pnsync::doctor {

namespace {

// How many entries below dest check_dest_private() looks at: enough to catch a tree copied with
// the wrong modes, few enough to finish at once on MIMIC-CXR's 600,000 files.
constexpr int kSampledEntries = 2000;

CheckResult ok(std::string name, std::string detail) {
  return {std::move(name), Status::Ok, std::move(detail), {}};
}

CheckResult warn(std::string name, std::string detail, std::string fix) {
  return {std::move(name), Status::Warn, std::move(detail), std::move(fix)};
}

CheckResult fail(std::string name, std::string detail, std::string fix) {
  return {std::move(name), Status::Fail, std::move(detail), std::move(fix)};
}

CheckResult skipped(std::string name, std::string why) {
  return {std::move(name), Status::Skipped, "not checked: " + std::move(why), {}};
}

std::string octal(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

// "in /etc/pnsync/pnsync.yaml", naming the file a setting comes from.
std::string in_file(const config::Config& config) {
  return "in " + config.source_file.string();
}

// The path itself if it exists, else its nearest existing parent (pnsyncd creates the rest).
std::filesystem::path nearest_existing(const std::filesystem::path& path) {
  std::filesystem::path at = path;
  struct stat st {};
  while (::stat(at.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR) &&
         at.has_relative_path())
    at = at.parent_path();
  return at;
}

// Creates and removes a file in `dir`; the error, if any, names dir.
std::optional<std::string> write_probe(const std::filesystem::path& dir) {
  std::string name = (dir / ".pnsync-doctor-XXXXXX").string();
  const UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) return "cannot create a file in " + dir.string() + ": " + std::strerror(errno);
  ::unlink(name.c_str());
  return std::nullopt;
}

// Where a directory that may not exist yet lives, for messages.
std::string where(const std::filesystem::path& path, const std::filesystem::path& existing) {
  if (path == existing) return path.string();
  return path.string() + " (missing; pnsyncd will create it in " + existing.string() + ")";
}

// The status line of an answer, or curl's error when none came.
std::string answer(const HttpOutcome& probe) {
  if (probe.curl_code != 0) return probe.curl_error;
  std::string text = std::to_string(probe.info.status);
  switch (probe.info.status) {
    case 200:
      return text + " OK";
    case 401:
      return text + " Unauthorized";
    case 403:
      return text + " Forbidden";
    case 404:
      return text + " Not Found";
    default:
      return text;
  }
}

std::string head_of(const HttpOutcome& probe) {
  return "HEAD " + probe.url + " -> " + answer(probe);
}

bool honours_basic_auth(const std::string& user_agent) {
  return user_agent.starts_with("Wget/") || user_agent.starts_with("libwfdb/");
}

std::string user_agent_problem(const config::Config& config) {
  return "user_agent \"" + config.user_agent + "\" " + in_file(config) +
         " does not start with Wget/ or libwfdb/, and physionet.org honours Basic credentials "
         "only for those (any other agent gets 403)";
}

std::string user_agent_fix(const config::Config& config) {
  return "remove user_agent from " + config.source_file.string() +
         " (the default is Wget/1.21.3 (compatible; pnsync/0.1)) or start it with Wget/";
}

std::string wrong_password_fix(const config::Config& config, std::string_view password_source) {
  return "correct credentials.username " + in_file(config) + " or the password in " +
         std::string(password_source) +
         "; nothing more was sent, because PhysioNet locks an account after repeated failed "
         "logins";
}

// A failed answer that no specific rule explains.
CheckResult unexpected_answer(std::string name, const config::Config& config,
                              const HttpOutcome& probe) {
  const long status = probe.info.status;
  if (probe.curl_code != 0)
    return fail(std::move(name), head_of(probe),
                "the server answered the connection test a moment ago; try again, and check the "
                "network if it persists");
  if (status >= 300 && status < 400)
    return fail(std::move(name),
                head_of(probe) + (probe.info.location ? " to " + *probe.info.location : ""),
                "check server " + in_file(config) +
                    ": it must be the origin that serves /files/ itself (e.g. "
                    "https://physionet.org); redirects are not followed, so credentials never "
                    "leave that host");
  if (status == 429 || status >= 500)
    return fail(std::move(name), head_of(probe),
                "the server is busy or failing (" + status_text(status) + "); try again later");
  return fail(std::move(name), head_of(probe),
              "unexpected answer; check server " + in_file(config));
}

// --- dest privacy ------------------------------------------------------------------------------

// The first existing parent of `dest` (from / down) that others cannot pass through (no o+x),
// with its mode; nullopt when every one lets them through.
std::optional<std::pair<std::filesystem::path, mode_t>> closed_parent(
    const std::filesystem::path& dest) {
  std::filesystem::path at;
  for (const auto& part : dest.parent_path()) {
    at /= part;
    struct stat st {};
    if (::stat(at.c_str(), &st) != 0) break;  // missing from here on: pnsyncd creates them
    if ((st.st_mode & S_IXOTH) == 0) return std::pair{at, st.st_mode};
  }
  return std::nullopt;
}

struct OpenEntries {
  int count = 0;
  int sampled = 0;
  std::filesystem::path example;
  mode_t example_mode = 0;
};

// Files others may read (o+r) among the first entries below dest.
OpenEntries sample_open_entries(const std::filesystem::path& dest) {
  namespace fs = std::filesystem;
  OpenEntries found;
  std::error_code ec;
  fs::recursive_directory_iterator it(dest, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator() && found.sampled < kSampledEntries;
       it.increment(ec)) {
    if (it.depth() == 0 && it->path().filename() == kPartialDirName) {
      it.disable_recursion_pending();  // partial files are 0600 and not data yet
      continue;
    }
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (!S_ISREG(st.st_mode)) continue;
    ++found.sampled;
    if ((st.st_mode & S_IROTH) == 0) continue;
    if (found.count++ == 0) {
      found.example = it->path();
      found.example_mode = st.st_mode;
    }
  }
  return found;
}

// Where physionet.org's connects start to hang (../shared/physionet/SERVER.md): more connections
// than this is impolite there, whatever another server allows.
constexpr int kPoliteConnections = 24;

// A reason to warn, and what to do about it.
struct Finding {
  std::string problem;
  std::string fix;
};

std::string joined_problems(const std::vector<Finding>& findings) {
  std::string text;
  for (const Finding& f : findings) text += (text.empty() ? "" : "; ") + f.problem;
  return text;
}

std::string joined_fixes(const std::vector<Finding>& findings) {
  std::string text;
  for (const Finding& f : findings) text += (text.empty() ? "" : "; ") + f.fix;
  return text;
}

// dest itself open to others (o+r or o+x), with a sample of the files below it they may read.
// Only meaningful when no parent keeps them out.
std::optional<Finding> open_dest(const std::filesystem::path& dest) {
  struct stat st {};
  if (::stat(dest.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      (st.st_mode & (S_IROTH | S_IXOTH)) == 0)
    return std::nullopt;
  std::string problem = dest.string() + " is mode " + octal(st.st_mode) +
                        " and every parent lets others through: anyone with an account here "
                        "can reach the data";
  const OpenEntries open = sample_open_entries(dest);
  if (open.count > 0)
    problem += "; " + std::to_string(open.count) + " of " + std::to_string(open.sampled) +
               " files sampled below it are readable by others too (e.g. " + open.example.string() +
               ", mode " + octal(open.example_mode) + ")";
  return Finding{problem, "chmod -R o-rwx " + dest.string() +
                              " (the data use agreement forbids sharing the data with anyone "
                              "who has not signed it)"};
}

// --- state_dir -----------------------------------------------------------------------------------

struct FilesystemType {
  std::uint32_t magic;
  std::string_view name;
};

// statfs(2) f_type values of file systems whose byte-range locks SQLite cannot rely on
// (https://www.sqlite.org/lockingv3.html#how_to_corrupt, "file locking problems").
constexpr std::array kNetworkFilesystems = {
    FilesystemType{0x00006969, "NFS"},        FilesystemType{0x0000517B, "SMB"},
    FilesystemType{0xFF534D42, "CIFS"},       FilesystemType{0xFE534D42, "SMB2"},
    FilesystemType{0x00C36400, "Ceph"},       FilesystemType{0x65735546, "FUSE"},
    FilesystemType{0x0BD00BD0, "Lustre"},     FilesystemType{0x5346414F, "AFS"},
    FilesystemType{0x6B414653, "AFS (kAFS)"}, FilesystemType{0x01021997, "9p"},
};

// Opens the state database (as pnsyncd does at start) when it exists, and runs SQLite's
// quick_check over it: a page damaged where pnsyncd has yet to read would otherwise surface
// mid-pass. quick_check reads every page once (seconds for MIMIC-CXR's 400,000 files) but skips
// comparing indexes with their tables, which integrity_check adds at several times the cost.
// The error names the file.
std::optional<std::string> open_problem(const std::filesystem::path& db) {
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return std::nullopt;
  try {
    store::Store store(db);
    if (auto problem = store.integrity_problem(store::Store::Check::Quick))
      return db.string() + " is damaged (PRAGMA quick_check: " + *problem + ")";
  } catch (const store::StoreError& error) {
    return error.what();
  }
  return std::nullopt;
}

// --- the runner ----------------------------------------------------------------------------------

// Prints each result as it comes and keeps the tally for the summary and the exit status.
class Report {
public:
  Report(std::FILE* out, Style style, std::filesystem::path config_file)
      : out_(out), style_(style), config_file_(std::move(config_file)) {}

  void add(const CheckResult& result) {
    ++counts_[static_cast<std::size_t>(result.status)];
    std::fputs(render(result, style_).c_str(), out_);
    std::fflush(out_);  // network checks take a moment: show what is known so far
  }

  int finish() const {
    const auto count = [this](Status s) { return counts_[static_cast<std::size_t>(s)]; };
    std::string summary;
    const auto add_part = [&summary](int n, const char* one, const char* many) {
      if (n == 0) return;
      summary += (summary.empty() ? "" : ", ") + std::to_string(n) + " " + (n == 1 ? one : many);
    };
    add_part(count(Status::Fail), "check failed", "checks failed");
    add_part(count(Status::Warn), "warning", "warnings");
    add_part(count(Status::Skipped), "check not run", "checks not run");
    if (summary.empty()) summary = "all " + std::to_string(count(Status::Ok)) + " checks passed";
    std::fprintf(out_, "\n%s\n", summary.c_str());
    if (::geteuid() == 0)
      std::fprintf(out_,
                   "note: run as root, which may write anywhere. To check as the packaged service "
                   "runs (its user, credential and writable paths):\n  systemd-run --wait --pipe "
                   "-p User=pnsync -p LoadCredential=pnsync-password:/etc/pnsync/password "
                   "-p ProtectSystem=strict -p ReadWritePaths=/srv/physionet "
                   "-p StateDirectory=pnsync /usr/sbin/pnsyncd --doctor --config %s\n",
                   config_file_.c_str());
    return count(Status::Fail) == 0 ? 0 : 1;
  }

private:
  std::FILE* out_;
  Style style_;
  std::filesystem::path config_file_;
  std::array<int, 4> counts_{};
};

// One HEAD at a time through the engine's own HttpClient (same TLS, user agent, credentials and
// cookie jar), on a private io_context.
class Prober {
public:
  explicit Prober(HttpSettings settings) : client_(io_, std::move(settings)) {}

  HttpOutcome head(const std::string& url) {
    std::optional<HttpOutcome> result;
    GetRequest request;
    request.url = url;
    request.head = true;
    client_.get(std::move(request), [&result](const HttpOutcome& outcome) { result = outcome; });
    io_.restart();
    while (!result && io_.run_one() > 0) {
    }
    if (result) return *result;
    HttpOutcome lost;  // the engine ran out of work without an answer: a bug, but say so
    lost.url = url;
    lost.curl_code = -1;
    lost.curl_error = "no answer (the request was lost)";
    return lost;
  }

private:
  boost::asio::io_context io_;
  HttpClient client_;
};

void skip_access(const config::Config& config, std::size_t from, const std::string& why,
                 Report& report) {
  for (std::size_t i = from; i < config.mirrors.size(); ++i)
    report.add(skipped("access " + config.mirrors[i].name(), why));
}

// Checks 3 to 5: reachability and TLS, then the login and every mirror's access, one request
// each, stopping at the first 401.
void check_remote(const config::Config& config,
                  const std::optional<config::FoundPassword>& password, Report& report) {
  const HttpSettings settings = make_http_settings(
      config, config.credentials && password ? std::optional(password->password) : std::nullopt);
  const ConnectOutcome connection = connect_only(settings, config.server + "/");
  report.add(check_reachable(config, connection));
  report.add(check_tls(config, connection));
  std::string why;
  if (!connection.connected)
    why = "the server is unreachable";
  else if (connection.curl_code != 0)
    why = "the TLS connection failed";
  else if (!password)
    why = "no password (see credentials)";
  if (!why.empty()) {
    if (config.credentials) report.add(skipped("login", why));
    skip_access(config, 0, why, report);
    return;
  }

  Prober prober(settings);
  for (std::size_t i = 0; i < config.mirrors.size(); ++i) {
    const config::Mirror& mirror = config.mirrors[i];
    const HttpOutcome probe = prober.head(probe_url(config, mirror));
    // The first mirror's answer also judges the login: one request, not two.
    if (i == 0 && config.credentials) report.add(check_login(config, probe, password->source));
    if (probe.curl_code == 0 && probe.info.status == 401 && config.credentials) {
      if (i > 0) report.add(check_access(config, mirror, probe));
      skip_access(config, i == 0 ? 0 : i + 1,
                  "the login was refused, and PhysioNet locks accounts after repeated failures",
                  report);
      return;
    }
    report.add(check_access(config, mirror, probe));
  }
}

// Checks 6 and 7.
void check_local(const config::Config& config, Report& report) {
  for (const config::Mirror& mirror : config.mirrors) {
    report.add(check_dest_writable(mirror, bytes_to_fetch(config.state_dir, mirror)));
    report.add(check_dest_private(config, mirror));
  }
  report.add(check_state_dir(config));
}

}  // namespace

// --- 1, 2: configuration and credentials ---------------------------------------------------------

Checked<config::Config> check_config(const std::filesystem::path& file) {
  Checked<config::Config> checked;
  try {
    checked.value = config::load_config(file);
  } catch (const config::ConfigError& error) {
    checked.result = fail("configuration", error.what(),
                          "correct " + file.string() +
                              " where the message says (pnsync.yaml(5) or docs/config.md "
                              "describes every key)");
    return checked;
  }
  const std::size_t mirrors = checked.value->mirrors.size();
  const std::string valid = file.string() + " is valid (" + std::to_string(mirrors) +
                            (mirrors == 1 ? " mirror)" : " mirrors)");
  if (checked.value->max_connections > kPoliteConnections) {
    checked.result = warn(
        "configuration",
        valid + ", but max_connections " + std::to_string(checked.value->max_connections) +
            " is above " + std::to_string(kPoliteConnections) +
            ": physionet.org lets new connections hang from about that many on, and shares the "
            "server with every other user",
        "set max_connections to 20 or less (the default; connect time-outs lower it further on "
        "their own)");
    return checked;
  }
  checked.result = ok("configuration", valid);
  return checked;
}

CheckResult check_sharing(const config::Config& config) {
  const std::vector<config::Exposure> found = config::exposures(config);
  if (found.empty())
    return ok("sharing", "file_mode " + octal(config.file_mode) + ", dir_mode " +
                             octal(config.dir_mode) + " and metrics_listen " +
                             config.metrics_listen.value_or("(off)") + " give others nothing");
  std::string problems;
  std::string fixes;
  for (const config::Exposure& exposure : found) {
    problems += (problems.empty() ? "" : "; ") + exposure.problem;
    fixes += (fixes.empty() ? "" : "; ") + exposure.fix;
  }
  return fail("sharing", problems, fixes);
}

Checked<config::FoundPassword> check_credentials(const config::Config& config) {
  Checked<config::FoundPassword> checked;
  if (!config.credentials) {
    checked.value.emplace();
    checked.result = ok("credentials", "none configured " + in_file(config) +
                                           ": requests are anonymous (open projects only)");
    return checked;
  }
  try {
    checked.value = config::find_password(config);
    checked.result = ok("credentials", "password for " + config.credentials->username +
                                           " read from " + checked.value->source);
  } catch (const config::ConfigError& error) {
    const config::Credentials& credentials = *config.credentials;
    if (!credentials.password_file && !credentials.netrc &&
        std::getenv("PNSYNC_PASSWORD") == nullptr) {
      checked.result = explain_missing_credential(
          config, error.what(), std::getenv("CREDENTIALS_DIRECTORY"), kPackagedCredentialSource);
      return checked;
    }
    checked.result =
        fail("credentials", error.what(),
             "give the password in a file only pnsyncd's user can read (chmod 600), holding the "
             "password alone, named by credentials.password_file; or netrc, $PNSYNC_PASSWORD, or "
             "systemd's LoadCredential=pnsync-password (docs/operations.md, Credentials)");
  }
  return checked;
}

CheckResult explain_missing_credential(const config::Config& config, const std::string& error,
                                       const char* credentials_directory,
                                       const std::filesystem::path& credential_source) {
  namespace fs = std::filesystem;
  const std::string unit_line = "LoadCredential=pnsync-password:" + credential_source.string();
  if (credentials_directory != nullptr && *credentials_directory != '\0') {
    // Inside a unit that passes credentials, but not one named pnsync-password: a drop-in that
    // renamed or replaced the packaged line.
    std::string names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(credentials_directory, ec))
      names += (names.empty() ? "" : ", ") + entry.path().filename().string();
    return fail("credentials",
                error + "; systemd passed credentials in " + credentials_directory + " (" +
                    (names.empty() ? "none" : names) + "), but none named pnsync-password",
                "name the credential pnsync-password, as the packaged unit does (" + unit_line +
                    "); `systemctl cat pnsyncd` shows the drop-in that changed it");
  }
  std::error_code ec;
  const bool source_exists = fs::exists(credential_source, ec);
  const std::string outside =
      error + "; this check runs outside systemd, and with no password_file or netrc " +
      in_file(config) + " pnsyncd gets its password only from systemd (" + unit_line +
      " in pnsyncd.service)";
  if (!source_exists)
    return fail("credentials",
                outside + ", and " + credential_source.string() +
                    " does not exist: systemd refuses to start pnsyncd.service without it",
                "install -m 600 -o root -g root /dev/null " + credential_source.string() +
                    " and write the password in it, on one line (docs/operations.md, First "
                    "start)");
  return fail(
      "credentials",
      outside + "; " + credential_source.string() + " exists, but only systemd hands it over",
      "run the check as the service runs: systemd-run --wait --pipe -p User=pnsync -p " +
          unit_line + " /usr/sbin/pnsyncd --doctor --config " + config.source_file.string());
}

// --- 3: server and TLS ---------------------------------------------------------------------------

CheckResult check_reachable(const config::Config& config, const ConnectOutcome& probe) {
  if (probe.connected)
    return ok("server",
              probe.url + " reachable" + (probe.remote.empty() ? "" : " at " + probe.remote));
  const std::string detail =
      "cannot reach " + probe.url + " (server " + in_file(config) + "): " + probe.curl_error;
  if (probe.curl_code == CURLE_COULDNT_RESOLVE_HOST ||
      probe.curl_code == CURLE_COULDNT_RESOLVE_PROXY)
    return fail("server", detail,
                "check the host name in server " + in_file(config) +
                    " and this machine's DNS (/etc/resolv.conf), or the proxy in $https_proxy");
  return fail("server", detail,
              "check that the server is up and that no firewall or proxy blocks the port; "
              "connect_timeout " +
                  in_file(config) + " is " + std::to_string(config.connect_timeout.count()) + "s");
}

CheckResult check_tls(const config::Config& config, const ConnectOutcome& probe) {
  if (!config.server.starts_with("https://"))
    return skipped("TLS", config.server + " is plain http (allowed for loopback servers only)");
  if (!probe.connected) return skipped("TLS", "the server is unreachable");
  const std::string trust =
      !config.ca_file ? "the system's CA certificates"
      : config.ca_replace_system
          ? "ca_file " + config.ca_file->string() + " alone (ca_replace_system: true)"
          : "the system's CA certificates and ca_file " + config.ca_file->string();
  if (probe.curl_code == 0)
    return ok("TLS", "certificate of " + config.server + " verified against " + trust);
  const std::string detail = config.server + ": " + probe.curl_error;
  if (probe.curl_code == CURLE_SSL_CACERT_BADFILE)
    return fail("TLS", detail,
                "ca_file " + in_file(config) + " must name a readable PEM file of CA certificates");
  if (probe.curl_code == CURLE_PEER_FAILED_VERIFICATION)
    return fail(
        "TLS", detail,
        config.ca_file
            ? "point ca_file " + in_file(config) + " at the CA that signed the server's certificate"
            : "install the CA that signed the server's certificate "
              "(/usr/local/share/ca-certificates, then update-ca-certificates) or name it "
              "in ca_file " +
                  in_file(config) + "; a TLS-inspecting proxy needs its own CA there");
  return fail("TLS", detail, "check that server " + in_file(config) + " speaks HTTPS on that port");
}

// --- 4, 5: login and access ----------------------------------------------------------------------

std::string probe_url(const config::Config& config, const config::Mirror& mirror) {
  return config.server + "/files/" + mirror.project + "/" + mirror.version + "/";
}

CheckResult check_login(const config::Config& config, const HttpOutcome& probe,
                        std::string_view password_source) {
  const std::string user = config.credentials ? config.credentials->username : std::string();
  if (probe.curl_code != 0) return unexpected_answer("login", config, probe);
  const long status = probe.info.status;
  if (status >= 200 && status < 300)
    return ok("login", user + " accepted (" + head_of(probe) + ")");
  if (status == 401)
    return fail("login", "wrong username or password for " + user + " (" + head_of(probe) + ")",
                wrong_password_fix(config, password_source));
  if (status == 403 && !honours_basic_auth(config.user_agent))
    return fail("login",
                "the server ignored the credentials: " + user_agent_problem(config) + " (" +
                    head_of(probe) + ")",
                user_agent_fix(config));
  if (status == 403)
    return ok("login", user + " accepted; the server refused access to " +
                           config.mirrors.front().name() + " (see below)");
  if (status == 404)
    return warn("login", "not judged: " + head_of(probe) + " (see access below)",
                "fix the mirror's project or version; the login is tested on the first mirror");
  return unexpected_answer("login", config, probe);
}

CheckResult check_access(const config::Config& config, const config::Mirror& mirror,
                         const HttpOutcome& probe) {
  const std::string name = "access " + mirror.name();
  if (probe.curl_code != 0) return unexpected_answer(name, config, probe);
  const long status = probe.info.status;
  const std::string page =
      config.server + "/content/" + mirror.project + "/" + mirror.version + "/";
  if (status >= 200 && status < 300) return ok(name, head_of(probe));
  if (status == 401 && !config.credentials)
    return fail(name, mirror.name() + " needs a login (" + head_of(probe) + ")",
                "set credentials.username " + in_file(config) +
                    " and give the password (docs/config.md, credentials)");
  if (status == 401)
    return fail(name,
                "wrong username or password for " + config.credentials->username + " (" +
                    head_of(probe) + ")",
                wrong_password_fix(config, "the password's source (see credentials)"));
  if (status == 403 && config.credentials && !honours_basic_auth(config.user_agent))
    return fail(name, head_of(probe) + ": " + user_agent_problem(config), user_agent_fix(config));
  if (status == 403)
    return fail(name,
                (config.credentials ? config.credentials->username : std::string("anonymous")) +
                    " may not read " + mirror.project + " version " + mirror.version + " (" +
                    head_of(probe) + ")",
                "sign in at " + page +
                    " and complete what it asks for: credentialed access (an approved "
                    "application), the required training (CITI, not expired) and the data use "
                    "agreement for version " +
                    mirror.version + " (each version has its own)");
  if (status == 404)
    return fail(name,
                "no project " + mirror.project + " version " + mirror.version + " on the server (" +
                    head_of(probe) + ")",
                "check project and version of this mirror " + in_file(config) +
                    " against https://physionet.org/content/" + mirror.project +
                    "/ (exact version, digits and dots; there is no \"latest\")");
  return unexpected_answer(name, config, probe);
}

// --- 6: dest -------------------------------------------------------------------------------------

CheckResult check_dest_writable(const config::Mirror& mirror,
                                std::optional<std::int64_t> bytes_to_fetch) {
  const std::string name = "dest " + mirror.name();
  const std::filesystem::path existing = nearest_existing(mirror.dest);
  const std::string place = where(mirror.dest, existing);
  const std::string permission_fix =
      "let pnsyncd's user create files in " + existing.string() +
      " (e.g. install -d -m 2750 -o pnsync -g GROUP " + mirror.dest.string() +
      "); under systemd it must also lie under a ReadWritePaths= entry (docs/operations.md, "
      "The mirror root)";
  struct stat st {};
  if (::stat(existing.c_str(), &st) != 0)
    return fail(name, "cannot examine " + existing.string() + ": " + std::strerror(errno),
                permission_fix);
  if (!S_ISDIR(st.st_mode))
    return fail(
        name, place + ": " + existing.string() + " is not a directory",
        "choose a dest whose parents are directories, or move " + existing.string() + " away");
  if (auto problem = write_probe(existing))
    return fail(name, place + ": " + *problem, permission_fix);

  struct statvfs vfs {};
  if (::statvfs(existing.c_str(), &vfs) != 0)
    return fail(name,
                "cannot read the free space of " + existing.string() + ": " + std::strerror(errno),
                "check the file system of " + existing.string());
  const auto free_bytes =
      static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize);
  const std::string free_text = format_bytes(free_bytes) + " free";
  if (!bytes_to_fetch)
    return ok(name, place + " is writable; " + free_text +
                        " (the total is known after the first complete listing)");
  const std::string need_text = format_bytes(*bytes_to_fetch) + " still to fetch";
  if (*bytes_to_fetch > free_bytes)
    return fail(name, place + ": " + free_text + ", but " + need_text,
                "free " + format_bytes(*bytes_to_fetch - free_bytes) + " on the file system of " +
                    existing.string() + ", or move dest to a larger one");
  return ok(name, place + " is writable; " + free_text + ", " + need_text);
}

CheckResult check_dest_private(const config::Config& config, const config::Mirror& mirror) {
  const std::string name = "privacy " + mirror.name();
  const std::filesystem::path& dest = mirror.dest;
  std::vector<Finding> findings;
  const auto closed = closed_parent(dest);
  if (!closed)
    if (auto finding = open_dest(dest)) findings.push_back(std::move(*finding));
  if (!findings.empty()) return warn(name, joined_problems(findings), joined_fixes(findings));
  if (closed)
    return ok(name, "others cannot reach " + dest.string() + ": " + closed->first.string() +
                        " is mode " + octal(closed->second));
  struct stat st {};
  if (::stat(dest.c_str(), &st) == 0)
    return ok(name, dest.string() + " is mode " + octal(st.st_mode) + ": closed to others");
  return ok(name, dest.string() + " will be created with dir_mode " + octal(config.dir_mode));
}

std::optional<std::int64_t> bytes_to_fetch(const std::filesystem::path& state_dir,
                                           const config::Mirror& mirror) {
  const std::filesystem::path db = state_dir / "state.db";
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) return std::nullopt;
  try {
    store::Store store(db);
    const auto id = store.find_mirror(mirror.name());
    if (!id || !store.crawl_completed_at(*id)) return std::nullopt;
    const store::MirrorCounts counts = store.counts(*id);
    return std::max<std::int64_t>(0, counts.bytes_total - counts.bytes_verified);
  } catch (const store::StoreError&) {
    return std::nullopt;  // check_state_dir reports it
  }
}

// --- 7: state_dir --------------------------------------------------------------------------------

std::optional<std::string_view> network_filesystem(std::int64_t f_type) {
  const auto magic = static_cast<std::uint32_t>(f_type);
  for (const FilesystemType& fs : kNetworkFilesystems)
    if (fs.magic == magic) return fs.name;
  return std::nullopt;
}

CheckResult check_state_dir(const config::Config& config) {
  const std::filesystem::path& dir = config.state_dir;
  const std::filesystem::path existing = nearest_existing(dir);
  const std::string place = where(dir, existing);
  struct stat st {};
  if (::stat(existing.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail("state_dir", place + ": " + existing.string() + " is not a directory",
                "set state_dir " + in_file(config) + " to a directory on a local disk");
  if (auto problem = write_probe(existing))
    return fail("state_dir", place + ": " + *problem,
                "let pnsyncd's user write " + existing.string() +
                    " (the packaged unit's StateDirectory= makes /var/lib/pnsync for it)");
  struct statfs fs {};
  if (::statfs(existing.c_str(), &fs) != 0)
    return fail(
        "state_dir",
        "cannot read the file system type of " + existing.string() + ": " + std::strerror(errno),
        "check " + existing.string());
  if (const auto network = network_filesystem(static_cast<std::int64_t>(fs.f_type)))
    return fail("state_dir",
                place + " is on " + std::string(*network) +
                    ", a network file system: SQLite's locking is unreliable there, so state.db "
                    "could be corrupted",
                "set state_dir " + in_file(config) +
                    " to a directory on a local disk (dest may stay on the shared storage)");
  if (auto problem = open_problem(dir / "state.db"))
    return fail("state_dir", *problem,
                "move " + (dir / "state.db").string() +
                    " aside (or restore a backup); pnsyncd then starts a new one and adopts the "
                    "files already under each dest by hashing them");
  std::error_code ec;
  const bool has_db = std::filesystem::exists(dir / "state.db", ec);
  return ok("state_dir", place + " is writable, on a local file system" +
                             (has_db ? "; state.db passes quick_check" : ""));
}

// --- output --------------------------------------------------------------------------------------

bool utf8_locale(const char* lc_all, const char* lc_ctype, const char* lang) {
  const char* chosen = nullptr;
  for (const char* value : {lc_all, lc_ctype, lang}) {
    if (value != nullptr && *value != '\0') {
      chosen = value;
      break;
    }
  }
  if (chosen == nullptr) return false;
  std::string lower(chosen);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("utf-8") != std::string::npos || lower.find("utf8") != std::string::npos;
}

std::string render(const CheckResult& result, const Style& style) {
  static constexpr std::array<const char*, 4> kSymbols = {"\u2713", "!", "\u2717", "-"};
  static constexpr std::array<const char*, 4> kWords = {"ok  ", "WARN", "FAIL", "SKIP"};
  const auto index = static_cast<std::size_t>(result.status);
  std::string text = std::string(style.symbols ? kSymbols[index] : kWords[index]) + " " +
                     result.name + ": " + result.detail + "\n";
  if (!result.fix.empty() && (result.status == Status::Warn || result.status == Status::Fail))
    text += std::string(style.symbols ? "  " : "     ") + "fix: " + result.fix + "\n";
  return text;
}

int run_doctor(const std::filesystem::path& file, std::FILE* out, const Style& style) {
  Report report(out, style, file);
  const Checked<config::Config> config = check_config(file);
  report.add(config.result);
  if (!config.value) return report.finish();
  report.add(check_sharing(*config.value));
  const Checked<config::FoundPassword> password = check_credentials(*config.value);
  report.add(password.result);
  check_remote(*config.value, password.value, report);
  check_local(*config.value, report);
  return report.finish();
}

}  // namespace pnsync::doctor
