// SPDX-License-Identifier: MIT
// ca_file and ca_replace_system (daemon/net/http_client.cpp, apply_trust): real TLS handshakes with
// the loopback test server, whose certificate chains to one test CA ("ours"). A second test CA
// ("other") signs nothing we meet. HttpSettings::system_cas stands in for the system's CAs, so
// each mode can be shown to keep or drop them.
#include <curl/curl.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "config/config.hpp"
#include "daemon/net/http_client.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/sandbox.hpp"
#include "tests/support/test_ca.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

struct TrustFixture {
  Sandbox sandbox;
  TestCa ours = make_test_ca(sandbox / "ours");
  TestCa other = make_test_ca(sandbox / "other");
  HttpServer server{[this] {
    ServerOptions options;
    options.root = sandbox / "root";
    options.tls_cert_file = ours.server_cert;
    options.tls_key_file = ours.server_key;
    return options;
  }()};

  // The handshake's curl code (0: verified) with `ca_file`, the mode, and `system` as the CAs
  // the system trusts.
  int handshake(const std::filesystem::path& ca_file, bool replace_system,
                const std::filesystem::path& system) const {
    HttpSettings settings;
    settings.user_agent = "Wget/1.21.3";
    settings.ca_file = ca_file;
    settings.ca_replace_system = replace_system;
    settings.system_cas = HttpSettings::CaLocations{system, std::nullopt};
    settings.connect_timeout = std::chrono::seconds(5);
    const ConnectOutcome outcome = connect_only(settings, server.base_url() + "/");
    INFO(outcome.curl_error);
    CHECK(outcome.connected);
    return outcome.curl_code;
  }
};

}  // namespace

TEST_CASE("ca_file adds to the system's CAs by default", "[tls][ca_file]") {
  TrustFixture f;
  // The server's CA only in ca_file: added, so it verifies.
  CHECK(f.handshake(f.ours.ca_cert, false, f.other.ca_cert) == 0);
  // The server's CA only among the system's: still trusted next to ca_file.
  CHECK(f.handshake(f.other.ca_cert, false, f.ours.ca_cert) == 0);
  // In neither: refused.
  CHECK(f.handshake(f.other.ca_cert, false, f.other.ca_cert) == CURLE_PEER_FAILED_VERIFICATION);
}

TEST_CASE("ca_replace_system: true trusts ca_file alone", "[tls][ca_file]") {
  TrustFixture f;
  CHECK(f.handshake(f.ours.ca_cert, true, f.other.ca_cert) == 0);
  // The system's CAs would verify the server, but they are replaced.
  CHECK(f.handshake(f.other.ca_cert, true, f.ours.ca_cert) == CURLE_PEER_FAILED_VERIFICATION);
}
