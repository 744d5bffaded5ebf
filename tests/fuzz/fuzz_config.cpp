// SPDX-License-Identifier: MIT
// parse_config on arbitrary text: the answer is a valid Config or a ConfigError whose message
// starts with the source name, never another exception, a crash or undefined behaviour.
//
// parse_config opens the file a `ca_file` key names (read-only, non-blocking, closed at once).
// Any path is possible in principle; run this target as a user who cannot open device files
// that act on open(2), or in a container without them.
#include "config/config.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kSource = "fuzz.yaml";

void check_config(const pnsync::config::Config& config) {
  FUZZ_CHECK(config.source_file == kSource);
  FUZZ_CHECK(!config.mirrors.empty());
  FUZZ_CHECK(config.server.starts_with("https://") || config.server.starts_with("http://"));
  FUZZ_CHECK(!config.server.ends_with("/"));
  FUZZ_CHECK(config.state_dir.is_absolute());
  FUZZ_CHECK(config.user_agent.starts_with("Wget/") || config.user_agent.starts_with("libwfdb/"));
  FUZZ_CHECK(!config.transfers || (*config.transfers >= 1 && *config.transfers <= 256));
  FUZZ_CHECK(config.max_connections >= 1 && config.max_connections <= 256);
  FUZZ_CHECK(config.listing_concurrency >= 1 && config.listing_concurrency <= 64);
  FUZZ_CHECK(config.max_attempts >= 1 && config.max_attempts <= 100);
  FUZZ_CHECK(config.stall_timeout.count() >= 1 && config.connect_timeout.count() >= 1);
  FUZZ_CHECK(config.relist_after.count() >= 1);
  FUZZ_CHECK(config.retry_base.count() >= 1 && config.retry_max >= config.retry_base);
  if (config.credentials) {
    FUZZ_CHECK(!config.credentials->username.empty());
    FUZZ_CHECK(!(config.credentials->password_file && config.credentials->netrc));
  }
  for (const pnsync::config::Mirror& mirror : config.mirrors) {
    FUZZ_CHECK(!mirror.project.empty() && !mirror.version.empty());
    FUZZ_CHECK(mirror.dest.is_absolute() && mirror.dest != "/");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check_config(pnsync::config::parse_config(text, std::string(kSource)));
  } catch (const pnsync::config::ConfigError& e) {
    const std::string_view message = e.what();
    if (!message.starts_with(std::string(kSource) + ":")) {
      std::fprintf(stderr, "ConfigError without the source name: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parse_config threw something other than ConfigError: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "parse_config threw a non-std exception\n");
    std::abort();
  }
  return 0;
}
