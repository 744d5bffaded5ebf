// SPDX-License-Identifier: MIT
// Throw-away certificates for HTTPS tests, made with the `openssl` command-line tool.
#pragma once

#include <filesystem>

namespace pnsync::test {

struct TestCa {
  std::filesystem::path ca_cert;      // PEM trust anchor for the client (CURLOPT_CAINFO)
  std::filesystem::path server_cert;  // PEM for 127.0.0.1 and localhost, signed by ca_cert
  std::filesystem::path server_key;
  // Self-signed for the same names but NOT chaining to ca_cert: a client trusting only ca_cert
  // must refuse it (fail-closed tests).
  std::filesystem::path rogue_cert;
  std::filesystem::path rogue_key;
};

// Writes the files above into `dir` (created if needed). ECDSA P-256, valid for ten years.
// Throws std::runtime_error, with openssl's output, when a step fails.
TestCa make_test_ca(const std::filesystem::path& dir);

}  // namespace pnsync::test
