// SPDX-License-Identifier: MIT
// `pnsyncd --doctor`: the configuration and the password, the order of every check, and the
// report. The checks of the server are in server_checks.cpp, those of this host in
// local_checks.cpp.
#include "daemon/doctor/doctor.hpp"

#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <cstdlib>
#include <utility>

#include "config/exposure.hpp"
#include "daemon/doctor/check_support.hpp"

namespace pnsync::doctor {

namespace {

using namespace detail;

// Where physionet.org's connects start to hang (../shared/physionet/SERVER.md): more connections
// than this is impolite there, whatever another server allows.
constexpr int kPoliteConnections = 24;

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
