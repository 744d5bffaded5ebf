// SPDX-License-Identifier: MIT
// `pnsyncd --doctor`, the server: reachable, TLS, the login and access to each mirror.
#include "daemon/doctor/doctor.hpp"

#include <utility>

#include "daemon/doctor/check_support.hpp"
#include "daemon/net/http_policy.hpp"

namespace pnsync::doctor {

namespace {

using namespace detail;

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

}  // namespace

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

}  // namespace pnsync::doctor
