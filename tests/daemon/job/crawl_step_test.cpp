// SPDX-License-Identifier: MIT
// The crawl on its own: real nginx-style listings and a real SQLite file, with the pass (requests,
// retries, stops) faked, so every answer a directory can get is a few milliseconds. The same
// behaviour over real HTTP is in mirror_test.cpp and fault_matrix_test.cpp.
#include "daemon/job/crawl_step.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <ctime>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/support/fake_pass.hpp"
#include "tests/support/listing_render.hpp"
#include "tests/support/sandbox.hpp"

using namespace pnsync;
using pnsync::test::DirEntry;
using pnsync::test::FakePass;
using pnsync::test::Sandbox;

namespace {

constexpr const char* kBase = "https://physionet.test/files/demo/1.0/";

// An nginx autoindex page of `dir` ("" for the root, else "a/b/"), as physionet.org serves it.
FakePass::Reply page(const std::string& dir, std::vector<DirEntry> entries) {
  const test::ListingPage where{"/files/demo/1.0/" + dir};
  FakePass::Reply reply;
  reply.body = test::render_listing(test::ListingStyle::Nginx, where, std::move(entries));
  return reply;
}
FakePass::Reply status(long code) {
  FakePass::Reply reply;
  reply.status = code;
  return reply;
}
// On a minute: nginx lists modification times to the minute.
constexpr std::time_t kListedMtime = 1'699'999'980;
DirEntry file(std::string name, std::uint64_t size = 10) {
  return {std::move(name), false, size, kListedMtime};
}
DirEntry dir(std::string name) {
  return {std::move(name), true, 0, kListedMtime};
}

// One mirror's state, and one pass of the crawl at a time over it.
struct CrawlBench {
  Sandbox sandbox;
  boost::asio::io_context io;
  Log log{LogLevel::Error};
  store::Store store{sandbox / "state.db"};
  store::MirrorId mirror = store.ensure_mirror("demo/1.0", (sandbox / "dest").string());
  Selection selection;
  std::set<std::string> manifest_dirs;
  std::chrono::seconds relist_after{3600};
  std::size_t listing_limit = std::size_t{1} << 20;
  std::unique_ptr<FakePass> pass;
  std::unique_ptr<CrawlStep> crawl;
  std::vector<std::string> listed;
  std::vector<std::string> gone;
  int finished = 0;

  // A new pass whose listings are answered with `replies`, in the order they are asked for.
  void new_pass(std::deque<FakePass::Reply> replies) {
    crawl.reset();
    pass = std::make_unique<FakePass>(io, store);
    pass->replies = std::move(replies);
    listed.clear();
    gone.clear();
    finished = 0;
    crawl = std::make_unique<CrawlStep>(
        CrawlContext{log, store, mirror, kBase, "demo/1.0", relist_after, listing_limit, selection,
                     manifest_dirs,
                     [this](std::string_view path) { return selection.selected(path); }},
        *pass,
        CrawlEvents{[this](const std::string& path) { listed.push_back(path); },
                    [this](const std::string& path) {
                      // Reported while its row is still there, so the pass can cancel its fetch.
                      CHECK(store.find_file(mirror, path));
                      gone.push_back(path);
                    },
                    [] {}, [this] { ++finished; }});
  }
  // Runs until the crawl finished or the pass stopped.
  void run_pass(std::deque<FakePass::Reply> replies, bool manifest_in_dest = false) {
    new_pass(std::move(replies));
    crawl->start(manifest_in_dest);
    pass->run_until([this] { return finished > 0; });
  }
  std::vector<std::string> urls() const {
    std::vector<std::string> asked;
    for (const auto& sent : pass->sent) asked.push_back(sent.url.substr(std::string(kBase).size()));
    return asked;
  }
};

}  // namespace

TEST_CASE("crawl step: lists the root and each subdirectory, records every file, completes",
          "[crawl_step]") {
  CrawlBench bench;
  bench.run_pass({page("", {dir("files"), dir(".pnsync-partial"), file("README.txt", 42)}),
                  page("files/", {file("a b.dcm", 7)})});
  CHECK_FALSE(bench.pass->stopped);
  CHECK(bench.urls() == std::vector<std::string>{"", "files/"});
  CHECK(bench.listed == std::vector<std::string>{"README.txt", "files/a b.dcm"});
  CHECK(bench.finished == 1);
  CHECK(bench.crawl->done());
  CHECK(bench.crawl->failures() == 0);
  CHECK(bench.store.crawl_completed_at(bench.mirror));
  const auto readme = bench.store.find_file(bench.mirror, "README.txt");
  REQUIRE(readme);
  CHECK(readme->size == 42);
  CHECK(readme->mtime == kListedMtime);
  CHECK(bench.store.find_file(bench.mirror, "files/a b.dcm"));
  CHECK_FALSE(bench.store.find_file(bench.mirror, ".pnsync-partial"));  // pnsync's own work area
  CHECK(bench.store.pending_dirs(bench.mirror).empty());
}

TEST_CASE("crawl step: with SHA256SUMS.txt in dest, the root listing leaves its row alone",
          "[crawl_step]") {
  CrawlBench bench;
  bench.run_pass({page("", {file("SHA256SUMS.txt"), file("README.txt")})},
                 /*manifest_in_dest=*/true);
  CHECK(bench.listed == std::vector<std::string>{"README.txt"});
  CHECK_FALSE(bench.store.find_file(bench.mirror, "SHA256SUMS.txt"));

  bench.relist_after = std::chrono::seconds(0);
  bench.run_pass({page("", {file("SHA256SUMS.txt"), file("README.txt")})});
  CHECK(bench.listed == std::vector<std::string>{"README.txt", "SHA256SUMS.txt"});
}

TEST_CASE("crawl step: a crawl younger than relist_after sends no request", "[crawl_step]") {
  CrawlBench bench;
  bench.run_pass({page("", {file("README.txt")})});
  REQUIRE(bench.finished == 1);

  bench.run_pass({});
  CHECK_FALSE(bench.pass->stopped);
  CHECK(bench.pass->sent.empty());
  CHECK(bench.finished == 1);
  CHECK(bench.crawl->done());
  CHECK_FALSE(bench.crawl->due());

  bench.relist_after = std::chrono::seconds(0);
  bench.new_pass({});
  CHECK(bench.crawl->due());
}

TEST_CASE("crawl step: an interrupted crawl resumes from the directories still to list",
          "[crawl_step]") {
  CrawlBench bench;
  // The pass stops (no reply for x/) with x/ and y/ still to list.
  bench.run_pass({page("", {dir("x"), dir("y")})});
  REQUIRE(bench.pass->stopped);
  CHECK(bench.finished == 0);
  CHECK_FALSE(bench.crawl->done());
  CHECK_FALSE(bench.store.crawl_completed_at(bench.mirror));

  bench.run_pass({page("x/", {file("1.txt")}), page("y/", {file("2.txt")})});
  CHECK_FALSE(bench.pass->stopped);
  CHECK(bench.urls() == std::vector<std::string>{"x/", "y/"});  // not the root again
  CHECK(bench.listed == std::vector<std::string>{"x/1.txt", "y/2.txt"});
  CHECK(bench.store.crawl_completed_at(bench.mirror));
}

TEST_CASE(
    "crawl step: a 404 counts as listed, a 500 after its retries as a failure, and the crawl is "
    "not recorded complete",
    "[crawl_step]") {
  CrawlBench bench;
  bench.run_pass(
      {page("", {dir("a"), dir("b")}), status(404), status(500), status(500), status(500)});
  CHECK_FALSE(bench.pass->stopped);
  CHECK(bench.pass->retries == 2);  // FakePass allows 3 attempts
  CHECK(bench.finished == 1);
  CHECK(bench.crawl->done());
  CHECK(bench.crawl->failures() == 1);
  CHECK_FALSE(bench.store.crawl_completed_at(bench.mirror));
  CHECK(bench.store.pending_dirs(bench.mirror) == std::vector<std::string>{"b/"});
}

TEST_CASE("crawl step: a listing over listing_limit is refused, not retried", "[crawl_step]") {
  CrawlBench bench;
  bench.listing_limit = 100;
  bench.run_pass({page("", {file(std::string(200, 'n'))})});
  CHECK(bench.pass->sent.size() == 1);
  CHECK(bench.pass->retries == 0);
  CHECK(bench.crawl->failures() == 1);
  CHECK(bench.listed.empty());
  CHECK_FALSE(bench.store.crawl_completed_at(bench.mirror));
}

TEST_CASE("crawl step: a 401 stops the pass and the crawl does not finish", "[crawl_step]") {
  CrawlBench bench;
  bench.run_pass({status(401)});
  REQUIRE(bench.pass->stopped);
  CHECK(bench.pass->stopped->first == JobStatus::AuthFailed);
  CHECK(bench.finished == 0);
  CHECK(bench.pass->retries == 0);
}

TEST_CASE("crawl step: files no longer listed are reported, then forgotten", "[crawl_step]") {
  CrawlBench bench;
  bench.relist_after = std::chrono::seconds(0);
  bench.run_pass({page("", {file("keep.txt"), file("gone.txt")})});
  REQUIRE(bench.store.find_file(bench.mirror, "gone.txt"));

  bench.run_pass({page("", {file("keep.txt")})});
  CHECK(bench.gone == std::vector<std::string>{"gone.txt"});
  CHECK_FALSE(bench.store.find_file(bench.mirror, "gone.txt"));
  CHECK(bench.store.find_file(bench.mirror, "keep.txt"));
}

TEST_CASE(
    "crawl step: directories the manifest covers are not listed, the selection prunes the rest, "
    "and unwanted files are marked unselected",
    "[crawl_step]") {
  CrawlBench bench;
  config::SelectionSpec spec;
  spec.exclude = {"images/**", "**/*.jpg"};
  bench.selection = Selection::build(spec, bench.sandbox / "dest").value();
  bench.manifest_dirs = {"files/", "covered/"};
  bench.run_pass({page("", {dir("files"), dir("images"), dir("other"),
                            file("covered"),  // the development server drops the '/'
                            file("x.jpg"), file("y.txt")}),
                  page("other/", {file("z.txt")})});
  CHECK_FALSE(bench.pass->stopped);
  CHECK(bench.urls() == std::vector<std::string>{"", "other/"});
  CHECK(bench.listed == std::vector<std::string>{"y.txt", "other/z.txt"});
  CHECK_FALSE(bench.store.find_file(bench.mirror, "covered"));
  REQUIRE(bench.store.find_file(bench.mirror, "x.jpg"));
  CHECK(bench.store.counts(bench.mirror).files_total == 2);  // x.jpg is not counted
}

TEST_CASE("crawl step: list() after the crawl is done runs it again, and it completes again",
          "[crawl_step]") {
  CrawlBench bench;
  bench.run_pass({page("", {file("odd")}), page("odd/", {file("inner.txt")})});
  REQUIRE(bench.finished == 1);
  // The pass found that "odd" is a directory (its fetch answered with a listing).
  bench.crawl->list("odd/");
  CHECK_FALSE(bench.crawl->done());
  bench.pass->run_until([&] { return bench.finished == 2; });
  CHECK(bench.finished == 2);
  CHECK(bench.crawl->done());
  CHECK(bench.listed == std::vector<std::string>{"odd", "odd/inner.txt"});
}

TEST_CASE("crawl step: a listing asked for before start() does not complete the crawl",
          "[crawl_step]") {
  CrawlBench bench;
  bench.new_pass({page("odd/", {file("inner.txt")}), page("", {file("README.txt")}),
                  page("odd/", {file("inner.txt")})});
  bench.crawl->list("odd/");
  bench.pass->run_until([&] { return bench.crawl->in_flight() == 0; });
  CHECK_FALSE(bench.crawl->done());
  CHECK_FALSE(bench.store.crawl_completed_at(bench.mirror));
  CHECK(bench.crawl->due());

  bench.crawl->start(false);
  bench.pass->run_until([&] { return bench.crawl->done(); });
  // A new crawl starts from the root and lists again what the store knows of (odd/ too).
  CHECK(bench.urls() == std::vector<std::string>{"odd/", "", "odd/"});
  CHECK(bench.store.crawl_completed_at(bench.mirror));
}
