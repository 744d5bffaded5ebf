// SPDX-License-Identifier: MIT
// The kill -9 loop (docs/testing.md, "Crash loop"): the real pnsyncd mirrors a few hundred files
// from the in-process HTTPS server, paced so that kills land mid-transfer, and is killed at
// seeded random moments and restarted, again and again. Between kills nothing may be visible
// under a final name unless it is complete and correct, and every row the database calls
// verified must be on disk intact. At the end the tree is byte-identical, the database passes
// PRAGMA integrity_check, and the bytes the server sent stay within a bound of the tree size.
// The second case does the same to a few large files fetched as several byte ranges at once,
// whose per-range progress is saved at most once a second (daemon/transfer/transfer_ranges.cpp).
//
//   PNSYNC_CRASH_KILLS (default 50), PNSYNC_CRASH_SEED (default 20261126, both cases) and
//   PNSYNC_CRASH_TRANSFERS (default 4) change the run; scripts/crash-loop sets them for the long
//   version. PNSYNC_CRASH_RANGE_KILLS (default 16) is the second case's number of kills.
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "daemon/transfer/transfer.hpp"
#include "store/store.hpp"
#include "tests/daemon/daemon_process.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/sandbox.hpp"
#include "tests/support/test_ca.hpp"

using namespace pnsync;
using namespace pnsync::test;

namespace {

namespace fs = std::filesystem;

constexpr const char* kUser = "jdoe";
constexpr const char* kPassword = "crash-Loop-pw";
constexpr const char* kProject = "crash-loop";
constexpr const char* kVersion = "1.0";
const std::string kUrlPrefix = "/files/crash-loop/1.0/";
// Files in flight (PNSYNC_CRASH_TRANSFERS), pinned: write_daemon_config writes `transfers: N`,
// so the adaptive `auto` default and its max_transfers never apply here.
constexpr int kTransfers = 4;
// Kills land uniformly in this window after each start, so some hit start-up (manifest, crawl),
// most hit transfers, and some hit the publish of a small file.
constexpr int kMinDelayMs = 30;
constexpr int kMaxDelayMs = 700;
// What a kill may cost. A kill -9 loses only what was in flight: bytes written to the partial
// file are in the page cache and survive, and a restart resumes after them with a Range. For
// each transfer in flight the server sends again:
//  - the body bytes pnsyncd had received but not yet written: it writes once
//    Transfer::kWriteBatch (16 KiB) has gathered, so less than that;
//  - what the server wrote into the connection after pnsyncd died: its next paced piece goes
//    out as TLS records, the kernel takes the first (at most kMaxTlsRecord) before the client's
//    reset arrives, and the rest fails (the test server does not count a failed write's bytes).
// So the bytes the server sent may exceed the tree by transfers x (kWriteBatch + kMaxTlsRecord)
// per kill, plus kBaseSlack (2%) for what runs fetch again besides (the manifest each run,
// listings of a crawl cut short) and the rare piece the kernel had received but pnsyncd not yet
// read. Measured (docs/testing.md, "Crash loop"): 3.8 transfers in flight per kill, each costing
// 14.4 + 16 KiB, so 116 KiB of the 128 KiB a kill may cost. The breakdown printed after the run
// shows whether any of it came from files fetched again whole or partials started over.
constexpr double kBaseSlack = 0.02;
constexpr std::uint64_t kMaxTlsRecord = 16u << 10;  // 2^14 bytes of plaintext (RFC 8446, 5.1)

// The byte-range case (PNSYNC_CRASH_RANGE_KILLS, default kRangeKills): files of at least
// kRangeSegmentSize go as up to kRangeSegments ranges on the slots of kRangeTransfers that the
// small files leave, each response paced at kRangeRate. Ranges beyond the first start only on the
// engine's once-a-second offer of spare slots, so runs last longer than in the first case: most
// kills land after a split, with several ranges in flight.
constexpr int kRangeKills = 16;
constexpr int kRangeTransfers = 8;
constexpr int kRangeSegments = 4;
constexpr std::int64_t kRangeSegmentSize = 1 << 20;
constexpr std::int64_t kRangeRate = 192 << 10;
constexpr int kRangeMinDelayMs = 400;
constexpr int kRangeMaxDelayMs = 2000;

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

struct SourceFile {
  std::uint64_t size = 0;
  std::string sha256;
};

// A MIMIC-CXR-shaped tree: top-level files and big/ covered by SHA256SUMS.txt (verified by hash;
// big/ is never listed, so its files have no size), files/ only found by crawling (verified by
// size), 30 directories of small files with a few medium ones among them.
std::map<std::string, SourceFile> make_tree(const fs::path& root, std::mt19937_64& rng) {
  std::map<std::string, SourceFile> tree;
  std::uint64_t seed = 1000;
  const auto add = [&](const std::string& rel, std::uint64_t size) {
    write_random_file(root / rel, size, seed++);
    tree[rel] = {size, sha256_file_hex(root / rel)};
  };
  add("LICENSE.txt", 1500);
  add("cxr-record-list.csv.gz", 300 << 10);
  for (int i = 0; i < 4; ++i)
    add("big/image-" + std::to_string(i) + ".tar", (3u << 20) + rng() % (3u << 20));
  for (int dir = 0; dir < 30; ++dir) {
    const std::string prefix =
        "files/p1" + std::to_string(dir % 10) + "/p" + std::to_string(10000000 + dir * 7919) + "/";
    for (int i = 0; i < 9; ++i) {
      const std::uint64_t size = i == 0 && dir % 5 == 0   ? (256u << 10) + rng() % (768u << 10)
                                 : i == 8 && dir % 7 == 0 ? 0
                                                          : rng() % (48u << 10);
      add(prefix + "s5" + std::to_string(1000000 + dir * 100 + i) + ".dcm", size);
    }
  }
  std::string manifest;
  for (const auto& [rel, file] : tree)
    if (!rel.starts_with("files/")) manifest += file.sha256 + "  " + rel + "\n";
  write_file(root / "SHA256SUMS.txt", manifest);
  tree["SHA256SUMS.txt"] = {manifest.size(), sha256_hex(manifest)};
  return tree;
}

// What a look at the dest tree found wrong, or "" when every file under its final name is
// complete and correct. Hashes only files whose (inode, size, mtime) it has not seen before.
class DestChecker {
public:
  DestChecker(fs::path dest, const std::map<std::string, SourceFile>& tree)
      : dest_(std::move(dest)), tree_(tree) {}

  std::string check() {
    std::error_code ec;
    if (!fs::exists(dest_, ec)) return {};
    for (auto it = fs::recursive_directory_iterator(dest_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path& path = it->path();
      const std::string rel = path.lexically_relative(dest_).generic_string();
      if (rel == ".pnsync-partial") {
        it.disable_recursion_pending();
        continue;
      }
      struct stat info {};
      if (::lstat(path.c_str(), &info) != 0) return rel + ": vanished while looked at";
      if (S_ISDIR(info.st_mode)) continue;
      if (!S_ISREG(info.st_mode)) return rel + ": not a regular file";
      const auto found = tree_.find(rel);
      if (found == tree_.end()) return rel + ": not in the source tree";
      if (static_cast<std::uint64_t>(info.st_size) != found->second.size)
        return rel + ": visible with " + std::to_string(info.st_size) + " of " +
               std::to_string(found->second.size) + " bytes";
      const auto key =
          std::make_tuple(info.st_ino, info.st_size, info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
      if (seen_[rel] == key) continue;
      if (sha256_file_hex(path) != found->second.sha256) return rel + ": wrong content";
      seen_[rel] = key;
    }
    return ec ? "cannot walk " + dest_.string() + ": " + ec.message() : std::string();
  }

private:
  fs::path dest_;
  const std::map<std::string, SourceFile>& tree_;
  std::map<std::string, std::tuple<ino_t, off_t, time_t, long>> seen_;
};

// Where the bytes the server sent beyond the tree went, from its request log. For each file, a
// request's body overlaps what earlier requests for it had already delivered (handed to the
// socket) by `resent` bytes: the daemon lost them and asked again. The overlaps, the listings and
// the manifest's extra copies add up to everything sent beyond the tree. A file fetched in byte
// ranges is delivered in pieces that need not start at 0, so what was delivered is kept as a set
// of intervals per file.
struct Breakdown {
  std::uint64_t listings = 0;        // directory listings: every byte (the tree holds none)
  std::uint64_t manifest_extra = 0;  // SHA256SUMS.txt beyond its one copy in the tree
  std::uint64_t resumed = 0;         // sent again by Range requests: the tail lost at a kill
  int resumes = 0;                   // Range requests that re-sent something
  std::uint64_t restarted = 0;       // sent again from byte 0 of a file delivered in part
  int restarts = 0;
  std::uint64_t complete_again = 0;  // sent again for a file that had been delivered whole
  int complete_agains = 0;
  std::uint64_t largest = 0;  // the most one request sent again
  int cut_short = 0;          // file responses whose body stopped before the end asked for
  int ranges = 0;             // 206 answers to "bytes=N-M" with M before the file's last byte
  int ranges_cut_short = 0;   // of those, the ones whose body stopped before M
};

// "bytes=N-M" or "bytes=N-": {N, M + 1 or size}; {0, size} without a Range.
std::pair<std::uint64_t, std::uint64_t> asked_for(const RequestRecord& request,
                                                  std::uint64_t size) {
  if (request.status != 206 || !request.range.starts_with("bytes=")) return {0, size};
  char* dash = nullptr;
  const std::uint64_t first = std::strtoull(request.range.c_str() + 6, &dash, 10);
  if (dash == nullptr || *dash != '-' || dash[1] == '\0') return {first, size};
  return {first, std::min<std::uint64_t>(size, std::strtoull(dash + 1, nullptr, 10) + 1)};
}

Breakdown break_down(const std::vector<RequestRecord>& requests,
                     const std::map<std::string, SourceFile>& tree) {
  Breakdown out;
  // Per file: the byte intervals [first, second) handed over yet, disjoint, keyed by start.
  std::map<std::string, std::map<std::uint64_t, std::uint64_t>> delivered;
  bool manifest_seen = false;
  for (const auto& request : requests) {
    if (request.method != "GET" || !request.path.starts_with(kUrlPrefix)) continue;
    const std::string rel = request.path.substr(kUrlPrefix.size());
    if (rel.empty() || rel.ends_with("/")) {
      out.listings += request.body_bytes;
      continue;
    }
    const auto file = tree.find(rel);
    if (file == tree.end() || (request.status != 200 && request.status != 206)) continue;
    if (rel == "SHA256SUMS.txt") {
      out.manifest_extra += manifest_seen ? request.body_bytes : 0;
      manifest_seen = true;
      continue;
    }
    const std::uint64_t size = file->second.size;
    const auto [start, asked_end] = asked_for(request, size);
    const std::uint64_t end = start + request.body_bytes;
    const bool short_of_asked = end < asked_end;
    if (short_of_asked) ++out.cut_short;
    if (asked_end < size) {
      ++out.ranges;
      if (short_of_asked) ++out.ranges_cut_short;
    }
    auto& intervals = delivered[rel];
    std::uint64_t covered = 0;  // of the whole file, before this request
    std::uint64_t resent = 0;   // of [start, end)
    for (const auto& [first, last] : intervals) {
      covered += last - first;
      if (first < end && last > start) resent += std::min(last, end) - std::max(first, start);
    }
    out.largest = std::max(out.largest, resent);
    if (resent > 0) {
      if (start > 0) {
        out.resumed += resent;
        ++out.resumes;
      } else if (covered >= size) {
        out.complete_again += resent;
        ++out.complete_agains;
      } else {
        out.restarted += resent;
        ++out.restarts;
      }
    }
    if (end > start) {
      // Merge [start, end) with every interval it touches.
      std::uint64_t first = start;
      std::uint64_t last = end;
      auto it = intervals.upper_bound(start);
      if (it != intervals.begin() && std::prev(it)->second >= start) --it;
      while (it != intervals.end() && it->first <= end) {
        first = std::min(first, it->first);
        last = std::max(last, it->second);
        it = intervals.erase(it);
      }
      intervals.emplace(first, last);
    }
  }
  return out;
}

std::string log_tail(const fs::path& log) {
  std::error_code ec;
  if (!fs::exists(log, ec)) return "(no log)";
  const std::string text = read_file(log);
  return text.size() > 4000 ? "..." + text.substr(text.size() - 4000) : text;
}

// The sandbox, the source tree, the HTTPS server serving it and the daemon's config: what both
// tests share. The caller sets pacing (pace) and writes the config (write_config) before the loop.
class CrashRig {
public:
  using TreeMaker = std::function<std::map<std::string, SourceFile>(const fs::path&)>;

  explicit CrashRig(const TreeMaker& make)
      : source(sandbox / "source"),
        dest(sandbox / "dest"),
        tree(make(source)),
        ca(make_test_ca(sandbox / "ca")),
        server(server_options(source, ca)) {
    for (const auto& [rel, file] : tree) tree_bytes += file.size;
    config.server = server.base_url();
    config.ca_file = ca.ca_cert;
    config.state_dir = sandbox / "state";
    config.credentials = config::Credentials{kUser, std::nullopt, false};
    config.stall_timeout = std::chrono::seconds(5);
    config.connect_timeout = std::chrono::seconds(5);
    config.retry_base = std::chrono::milliseconds(50);
    config.retry_max = std::chrono::milliseconds(500);
    config.max_attempts = 8;
    config.mirrors.push_back({kProject, kVersion, dest});
    db = config.state_dir / "state.db";
  }

  // Every file but the manifest is sent at `rate` bytes per second per response.
  void pace(std::int64_t rate) {
    for (const auto& [rel, file] : tree)
      if (rel != "SHA256SUMS.txt")
        server.set_fault(kUrlPrefix + rel, {Fault::Kind::Slow, rate, 0, {}, -1});
  }
  void write_config() { config_file = write_daemon_config(config, kPassword, sandbox.path()); }

  std::string mirror_key() const { return std::string(kProject) + "/" + kVersion; }

  Sandbox sandbox;
  fs::path source;
  fs::path dest;
  std::map<std::string, SourceFile> tree;
  std::uint64_t tree_bytes = 0;
  TestCa ca;
  HttpServer server;
  config::Config config;
  fs::path config_file;
  fs::path log = sandbox / "pnsyncd.log";
  fs::path db;

private:
  static ServerOptions server_options(const fs::path& root, const TestCa& ca) {
    ServerOptions options;
    options.root = root;
    options.url_prefix = kUrlPrefix;
    options.username = kUser;
    options.password = kPassword;
    options.tls_cert_file = ca.server_cert;
    options.tls_key_file = ca.server_key;
    return options;
  }
};

// After a kill: nothing under a final name is incomplete or wrong, the database is sound, and
// whatever it calls verified is on disk and intact (the row is committed only after the rename
// and the directory fsync).
void check_after_kill(CrashRig& rig, DestChecker& checker, int kills) {
  const std::string wrong = checker.check();
  INFO("after kill " << kills << ": " << wrong);
  REQUIRE(wrong.empty());
  if (!fs::exists(rig.db)) return;
  store::Store store(rig.db);
  REQUIRE(store.integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
  const auto mirror = store.ensure_mirror(rig.mirror_key(), rig.dest.string());
  for (const auto& file : store.verified_files(mirror)) {
    INFO("after kill " << kills << ": verified in the database: " << file.path);
    struct stat info {};
    REQUIRE(::lstat((rig.dest / file.path).c_str(), &info) == 0);
    REQUIRE(static_cast<std::uint64_t>(info.st_size) == rig.tree.at(file.path).size);
  }
}

struct KillLoop {
  int kills = 0;
  int mid_transfer = 0;  // kills that landed after file data began to flow in that run
  bool finished_early = false;
};

// Starts pnsyncd, kills it -9 after a random delay in [min_ms, max_ms], checks, and again, until
// `kills_wanted` kills or a run that ends by itself (which must exit 0).
KillLoop kill_loop(CrashRig& rig, int kills_wanted, std::mt19937_64& rng, int min_ms, int max_ms) {
  DestChecker checker(rig.dest, rig.tree);
  std::uniform_int_distribution<int> delay_ms(min_ms, max_ms);
  KillLoop loop;
  while (loop.kills < kills_wanted) {
    // Each run's log stays in the sandbox (PNSYNC_KEEP_SANDBOX=1) as pnsyncd.N.log.
    if (fs::exists(rig.log))
      fs::rename(rig.log, rig.sandbox / ("pnsyncd." + std::to_string(loop.kills) + ".log"));
    const std::uint64_t sent_before = rig.server.body_bytes_sent();
    Pnsyncd daemon(rig.config_file, rig.log);
    const auto ended = daemon.wait_for(std::chrono::milliseconds(delay_ms(rng)));
    if (ended) {
      INFO("run " << loop.kills + 1 << " ended by itself: " << log_tail(rig.log));
      REQUIRE(*ended == 0);
      loop.finished_early = true;
      break;
    }
    REQUIRE(daemon.kill9() == -SIGKILL);
    ++loop.kills;
    // More than the manifest went out: listings or file bodies were flowing when it died.
    if (rig.server.body_bytes_sent() > sent_before + rig.tree.at("SHA256SUMS.txt").size)
      ++loop.mid_transfer;
    check_after_kill(rig, checker, loop.kills);
  }
  INFO("the mirror finished after " << loop.kills << " kills; the pacing is too fast for the loop");
  CHECK_FALSE(loop.finished_early);
  return loop;
}

// The last run goes unpaced and uninterrupted; then the tree is byte-identical, the partial
// folder empty, the database sound and every file in it verified.
void last_run_converges(CrashRig& rig) {
  rig.server.clear_faults();
  fs::remove(rig.log);
  Pnsyncd last(rig.config_file, rig.log);
  const auto status = last.wait_for(std::chrono::seconds(120));
  INFO(log_tail(rig.log));
  REQUIRE(status);
  REQUIRE(*status == 0);

  std::string why;
  const bool identical = trees_equal(rig.source, rig.dest, &why, ".pnsync-partial");
  INFO(why);
  CHECK(identical);
  CHECK(partial_files(rig.dest).empty());
  store::Store store(rig.db);
  CHECK(store.integrity_problem(pnsync::store::Store::Check::Full) == std::nullopt);
  const auto counts = store.counts(store.ensure_mirror(rig.mirror_key(), rig.dest.string()));
  CHECK(counts.files_verified == static_cast<std::int64_t>(rig.tree.size()));
  CHECK(counts.files_total == static_cast<std::int64_t>(rig.tree.size()));
}

// Prints what the run cost and where the bytes beyond the tree went, checks the bytes the server
// sent against tree × (1 + kBaseSlack) + kills × loss_per_kill, and returns the breakdown.
Breakdown report_cost(const char* name, CrashRig& rig, const KillLoop& loop, std::uint64_t seed,
                      std::int64_t rate, std::uint64_t loss_per_kill,
                      std::chrono::steady_clock::time_point began) {
  const int kills = loop.kills;
  const std::uint64_t served = rig.server.body_bytes_sent();
  const auto tree_bytes = static_cast<double>(rig.tree_bytes);
  const double ratio = static_cast<double>(served) / tree_bytes;
  const double bound = 1.0 + kBaseSlack + static_cast<double>(loss_per_kill) * kills / tree_bytes;
  const double lost_per_kill = kills > 0 && served > rig.tree_bytes
                                   ? static_cast<double>(served - rig.tree_bytes) / kills
                                   : 0;
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::printf(
      "%s: %d kills (seed %llu), %d of them mid-transfer; %zu files / %llu bytes, paced at %lld "
      "B/s per response; server sent %llu body bytes, ratio %.3f (bound %.3f), %.1f KiB more per "
      "kill (bound %.1f); %.0f s\n",
      name, kills, static_cast<unsigned long long>(seed), loop.mid_transfer, rig.tree.size(),
      static_cast<unsigned long long>(rig.tree_bytes), static_cast<long long>(rate),
      static_cast<unsigned long long>(served), ratio, bound, lost_per_kill / 1024,
      static_cast<double>(loss_per_kill) / 1024, took);
  const Breakdown spent = break_down(rig.server.requests(), rig.tree);
  const auto kib = [](std::uint64_t bytes) { return static_cast<double>(bytes) / 1024; };
  const auto per_kill = [kills](int n) { return kills > 0 ? static_cast<double>(n) / kills : 0.0; };
  std::printf(
      "  beyond the tree, KiB: %.1f sent again by %d resumes, %.1f by %d restarts from byte 0, "
      "%.1f by %d files fetched again whole, %.1f listings, %.1f manifest; at most %.1f by one "
      "request; %d responses cut short (%.1f per kill); %d byte ranges short of the file's end, "
      "%d of them cut short (%.1f per kill)\n",
      kib(spent.resumed), spent.resumes, kib(spent.restarted), spent.restarts,
      kib(spent.complete_again), spent.complete_agains, kib(spent.listings),
      kib(spent.manifest_extra), kib(spent.largest), spent.cut_short, per_kill(spent.cut_short),
      spent.ranges, spent.ranges_cut_short, per_kill(spent.ranges_cut_short));
  std::fflush(stdout);
  INFO("server sent " << served << " bytes for a tree of " << rig.tree_bytes << " (ratio " << ratio
                      << ", bound " << bound << ")");
  CHECK(ratio <= bound);
  // Not all kills hit start-up: a loose bound, since a loaded CI machine starts pnsyncd slowly.
  CHECK(loop.mid_transfer * 4 >= kills);
  return spent;
}

// A few large files fetched in byte ranges, and a handful of small ones: big/ is covered by
// SHA256SUMS.txt and never listed (the size comes with the response, and the stream turns into
// ranges once it is known), large/ is found by crawling (the listing gives the size, so the file
// is planned in ranges from its first request).
std::map<std::string, SourceFile> make_ranged_tree(const fs::path& root, std::mt19937_64& rng) {
  std::map<std::string, SourceFile> tree;
  std::uint64_t seed = 5000;
  const auto add = [&](const std::string& rel, std::uint64_t size) {
    write_random_file(root / rel, size, seed++);
    tree[rel] = {size, sha256_file_hex(root / rel)};
  };
  add("LICENSE.txt", 1500);
  for (int i = 0; i < 2; ++i)
    add("big/image-" + std::to_string(i) + ".tar", (6u << 20) + rng() % (4u << 20));
  add("large/series.dat", (6u << 20) + rng() % (4u << 20));
  for (int i = 0; i < 6; ++i)
    add("files/s" + std::to_string(100 + i) + ".dcm", i == 5 ? 0 : rng() % (48u << 10));
  std::string manifest;
  for (const auto& [rel, file] : tree)
    if (!rel.starts_with("files/") && !rel.starts_with("large/"))
      manifest += file.sha256 + "  " + rel + "\n";
  write_file(root / "SHA256SUMS.txt", manifest);
  tree["SHA256SUMS.txt"] = {manifest.size(), sha256_hex(manifest)};
  return tree;
}

}  // namespace

TEST_CASE("kill -9 at random moments, restart each time: the mirror converges intact",
          "[process][slow][crash]") {
  const auto kills_wanted = static_cast<int>(env_number("PNSYNC_CRASH_KILLS", 50));
  const std::uint64_t seed = env_number("PNSYNC_CRASH_SEED", 20261126);
  const auto transfers = static_cast<int>(env_number("PNSYNC_CRASH_TRANSFERS", kTransfers));
  INFO("seed " << seed << ", " << kills_wanted << " kills, " << transfers
               << " transfers (PNSYNC_CRASH_SEED, PNSYNC_CRASH_KILLS, PNSYNC_CRASH_TRANSFERS)");
  std::mt19937_64 rng(seed);
  const auto began = std::chrono::steady_clock::now();

  CrashRig rig([&rng](const fs::path& root) { return make_tree(root, rng); });
  // Pace every file so that the whole tree would take about 1.5x the kill loop: most kills land
  // mid-transfer, and the mirror is still unfinished when the loop ends.
  const double mean_run_s = (kMinDelayMs + kMaxDelayMs) / 2000.0;
  const auto rate = std::max<std::int64_t>(
      16 << 10, static_cast<std::int64_t>(static_cast<double>(rig.tree_bytes) /
                                          (transfers * 1.5 * mean_run_s * kills_wanted)));
  rig.pace(rate);
  rig.config.transfers = transfers;
  rig.write_config();

  const KillLoop loop = kill_loop(rig, kills_wanted, rng, kMinDelayMs, kMaxDelayMs);
  last_run_converges(rig);
  report_cost("crash loop", rig, loop, seed, rate,
              static_cast<std::uint64_t>(transfers) * (Transfer::kWriteBatch + kMaxTlsRecord),
              began);
}

TEST_CASE("kill -9 while large files download in byte ranges", "[process][slow][crash]") {
  const auto kills_wanted = static_cast<int>(env_number("PNSYNC_CRASH_RANGE_KILLS", kRangeKills));
  const std::uint64_t seed = env_number("PNSYNC_CRASH_SEED", 20261126);
  INFO("seed " << seed << ", " << kills_wanted
               << " kills (PNSYNC_CRASH_SEED, PNSYNC_CRASH_RANGE_KILLS)");
  std::mt19937_64 rng(seed);
  const auto began = std::chrono::steady_clock::now();

  CrashRig rig([&rng](const fs::path& root) { return make_ranged_tree(root, rng); });
  int large_files = 0;
  for (const auto& [rel, file] : rig.tree)
    large_files += file.size >= static_cast<std::uint64_t>(kRangeSegmentSize) ? 1 : 0;
  rig.pace(kRangeRate);
  rig.config.transfers = kRangeTransfers;
  rig.config.segments = kRangeSegments;
  rig.config.segment_size = kRangeSegmentSize;
  rig.write_config();

  const KillLoop loop = kill_loop(rig, kills_wanted, rng, kRangeMinDelayMs, kRangeMaxDelayMs);
  last_run_converges(rig);
  // Every transfer in flight loses what any stream loses (see kBaseSlack's comment); a range also
  // loses what it wrote since its plan was last saved, at most kSavePlanEvery at the paced rate.
  // No more ranges are in flight than there are slots, or than the large files may be split into.
  const auto ranges_in_flight = std::min(kRangeTransfers, kRangeSegments * large_files);
  const auto since_saved = static_cast<std::uint64_t>(kRangeRate) *
                           static_cast<std::uint64_t>(Transfer::kSavePlanEvery.count()) / 1000;
  const std::uint64_t loss_per_kill =
      static_cast<std::uint64_t>(kRangeTransfers) * (Transfer::kWriteBatch + kMaxTlsRecord) +
      static_cast<std::uint64_t>(ranges_in_flight) * since_saved;
  const Breakdown spent =
      report_cost("crash loop, byte ranges", rig, loop, seed, kRangeRate, loss_per_kill, began);
  // The large files really went in ranges, and kills cut some of those ranges short.
  CHECK(spent.ranges > 0);
  CHECK(spent.ranges_cut_short > 0);
}
