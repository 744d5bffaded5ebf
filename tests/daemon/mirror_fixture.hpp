// SPDX-License-Identifier: MIT
// A small MIMIC-CXR-shaped source tree served by the in-process test server, and a config that
// mirrors it into the sandbox.
#pragma once

#include "daemon/transfer/segment_plan.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/exit_codes.hpp"
#include "config/config.hpp"
#include "daemon/engine/sync_pass.hpp"
#include "daemon/job/mirror_job.hpp"
#include "store/store.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/sandbox.hpp"

// The mirror equals the source, byte for byte; on failure the message names the first difference.
#define CHECK_MIRRORED(fixture)                           \
  do {                                                    \
    std::string why_;                                     \
    const bool same_ = (fixture).mirrored_exactly(&why_); \
    INFO(why_);                                           \
    CHECK(same_);                                         \
  } while (false)

namespace pnsync::test {

inline constexpr const char* kUser = "jdoe";
inline constexpr const char* kPassword = "s3cret-Pa55";
inline constexpr const char* kPrefix = "/files/mimic-cxr/2.0.0/";

enum class Tls { None, Trusted, Untrusted };

struct FixtureOptions {
  ListingStyle style = ListingStyle::Nginx;
  bool with_manifest = true;
  Tls tls = Tls::None;
  std::map<std::string, std::string> extra_files{};  // added to the source tree
};

struct MirrorFixture {
  explicit MirrorFixture(const FixtureOptions& options = {});

  // The relative paths of the generated tree and their contents.
  std::map<std::string, std::string> files;
  Sandbox sandbox;
  std::filesystem::path source;  // what the server serves
  std::filesystem::path dest;    // where the mirror goes
  std::unique_ptr<HttpServer> server;
  config::Config config;
  SlowStreamSplit slow_stream;  // when run() splits a slow single stream
  std::size_t listing_limit = JobOptions{}.listing_limit;

  std::string url_path(const std::string& relative) const { return kPrefix + relative; }
  // Runs one pass in-process, as `pnsyncd --once` would; the summary goes to a temp file.
  ExitCode run(const std::optional<std::string>& password = std::string(kPassword));
  // As `pnsyncd --dry-run`: the plan goes to `summary`.
  ExitCode dry_run(bool json = false);
  // As `pnsyncd --once --verify`.
  ExitCode verify_run();
  // As `pnsyncd --once --refetch`.
  ExitCode refetch_run();
  bool mirrored_exactly(std::string* why) const;
  // Adds a file at the root of the source tree and lists it in SHA256SUMS.txt.
  void add_listed_root_file(const std::string& name, const std::string& content);
  // Where the mirror keeps `relative` while it downloads.
  std::filesystem::path partial_file(const std::string& relative) const;
  std::optional<store::FileRecord> record(const std::string& relative) const;
  std::string summary;  // of the last run
  // The last run's log, info lines included (stderr shows warnings and errors, as always).
  std::string log;

private:
  // `options` says what kind of pass; the summary and slow_stream are filled in here.
  ExitCode run_with(const std::optional<std::string>& password, PassOptions options);
};

}  // namespace pnsync::test
