// SPDX-License-Identifier: MIT
#include "tests/daemon/mirror_fixture.hpp"

#include <sys/types.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/log.hpp"
#include "daemon/disk/local_tree.hpp"
#include "daemon/engine/sync_pass.hpp"
#include "daemon/net/curl_handles.hpp"
#include "tests/support/test_ca.hpp"

namespace pnsync::test {

namespace {

// One process-wide curl initialisation for the test binary.
const curl::GlobalInit& curl_once() {
  static const curl::GlobalInit init;
  return init;
}

// Informational log lines: kept for the test to read, but not shown on stderr, which keeps what
// tests have always shown there. Both of Log's forms: "HH:MM:SS info: ..." and, under the
// journal, "<6>...".
bool is_chatter(std::string_view line) {
  for (std::string_view level : {"<5>", "<6>", "<7>"})
    if (line.starts_with(level)) return true;
  const std::string_view rest = line.size() > 8 ? line.substr(8) : std::string_view();
  for (std::string_view level : {" notice: ", " info: ", " debug: "})
    if (rest.starts_with(level)) return true;
  return false;
}

// The FILE* a pass logs to: every line goes to `text`, and warnings and errors (every line with
// PNSYNC_TEST_VERBOSE=1) also to stderr as they happen. glibc's fopencookie.
class LogCapture {
public:
  LogCapture(std::string& text, bool verbose)
      : text_(text),
        verbose_(verbose),
        file_(::fopencookie(this, "w", {nullptr, &LogCapture::write, nullptr, nullptr})) {
    if (file_ == nullptr) throw std::runtime_error("fopencookie failed");
    text_.clear();
  }
  ~LogCapture() { std::fclose(file_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::FILE* file() const { return file_; }

private:
  static ssize_t write(void* cookie, const char* data, size_t size) {
    auto* self = static_cast<LogCapture*>(cookie);
    const std::size_t start = self->text_.size();
    self->text_.append(data, size);
    self->show_lines_from(start);
    return static_cast<ssize_t>(size);
  }

  // Shows the complete lines that the bytes from `start` on finished.
  void show_lines_from(std::size_t start) {
    std::size_t line_end = text_.find('\n', start);
    while (line_end != std::string::npos) {
      const std::string_view line = std::string_view(text_).substr(shown_, line_end + 1 - shown_);
      if (verbose_ || !is_chatter(line)) std::fwrite(line.data(), 1, line.size(), stderr);
      shown_ = line_end + 1;
      line_end = text_.find('\n', shown_);
    }
  }

  std::string& text_;
  bool verbose_;
  std::size_t shown_ = 0;  // where the first line not yet judged starts
  std::FILE* file_ = nullptr;
};

}  // namespace

MirrorFixture::MirrorFixture(const FixtureOptions& fixture_options) {
  curl_once();
  source = sandbox / "source";
  dest = sandbox / "dest";
  files["LICENSE.txt"] = "PhysioNet Credentialed Health Data License 1.5.0\n";
  files["cxr-record-list.csv.gz"] = random_bytes(5000, 1);
  files["files/p10/p10000032/s50414267.txt"] = "FINAL REPORT\n no acute process.\n";
  files["files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm"] =
      random_bytes(70000, 2);
  files["files/p10/p10000032/s50414267/174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962.dcm"] =
      random_bytes(300000, 3);
  files["files/p11/p11000011/s51234567.txt"] = "FINAL REPORT\n normal.\n";
  files["files/p11/p11000011/s51234567/2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.dcm"] =
      random_bytes(3 << 20, 4);
  files["files/p11/p11000011/s51234567/empty file.dcm"] = "";
  std::string manifest;
  for (const auto& [path, content] : files) {
    if (path.find('/') == std::string::npos) manifest += sha256_hex(content) + " " + path + "\n";
  }
  if (fixture_options.with_manifest) files["SHA256SUMS.txt"] = manifest;
  for (const auto& [path, content] : files) write_file(source / path, content);
  for (const auto& [path, content] : fixture_options.extra_files)
    write_file(source / path, content);

  ServerOptions options;
  options.root = source;
  options.url_prefix = kPrefix;
  options.username = kUser;
  options.password = kPassword;
  options.listing_style = fixture_options.style;
  std::optional<TestCa> ca;
  if (fixture_options.tls != Tls::None) {
    ca = make_test_ca(sandbox / "ca");
    const bool trusted = fixture_options.tls == Tls::Trusted;
    options.tls_cert_file = trusted ? ca->server_cert : ca->rogue_cert;
    options.tls_key_file = trusted ? ca->server_key : ca->rogue_key;
  }
  server = std::make_unique<HttpServer>(options);

  config.source_file = "test.yaml";
  config.server = server->base_url();
  if (ca) config.ca_file = ca->ca_cert;
  config.state_dir = sandbox / "state";
  config.credentials = config::Credentials{kUser, std::nullopt, false};
  config.transfers = 4;
  config.stall_timeout = std::chrono::seconds(2);
  config.connect_timeout = std::chrono::seconds(5);
  config.retry_base = std::chrono::milliseconds(10);
  config.retry_max = std::chrono::milliseconds(200);
  config.max_attempts = 5;
  config.mirrors.push_back({"mimic-cxr", "2.0.0", dest});
}

ExitCode MirrorFixture::dry_run(bool json) {
  return run_with(kPassword, PassOptions{.plan_only = true, .json = json});
}

ExitCode MirrorFixture::verify_run() {
  return run_with(kPassword, PassOptions{.verify_at_rest = true});
}

ExitCode MirrorFixture::refetch_run() {
  return run_with(kPassword, PassOptions{.refetch = true});
}

ExitCode MirrorFixture::run(const std::optional<std::string>& password) {
  return run_with(password, PassOptions{});
}

ExitCode MirrorFixture::run_with(const std::optional<std::string>& password, PassOptions options) {
  std::filesystem::create_directories(config.state_dir);
  store::Store store(config.state_dir / "state.db");
  // PNSYNC_TEST_VERBOSE=1 shows every state change while debugging a test.
  const bool verbose = std::getenv("PNSYNC_TEST_VERBOSE") != nullptr;
  const LogCapture capture(log, verbose);
  Log log_sink(verbose ? LogLevel::Debug : LogLevel::Info, capture.file());
  std::FILE* out = std::tmpfile();
  options.summary_out = out;
  options.slow_stream = slow_stream;
  options.listing_limit = listing_limit;
  std::optional<config::Secret> secret;
  if (password) secret.emplace(std::string(*password));
  const ExitCode code = run_sync_pass(config, secret, store, log_sink, options);
  std::rewind(out);
  summary.clear();
  char buffer[4096];
  while (size_t got = std::fread(buffer, 1, sizeof buffer, out)) summary.append(buffer, got);
  std::fclose(out);
  return code;
}

void MirrorFixture::add_listed_root_file(const std::string& name, const std::string& content) {
  files[name] = content;
  write_file(source / name, content);
  files["SHA256SUMS.txt"] += sha256_hex(content) + " " + name + "\n";
  write_file(source / "SHA256SUMS.txt", files["SHA256SUMS.txt"]);
}

std::filesystem::path MirrorFixture::partial_file(const std::string& relative) const {
  auto tree = LocalTree::open(dest, {});
  return dest / kPartialDirName / tree->partial_name(relative);
}

bool MirrorFixture::mirrored_exactly(std::string* why) const {
  return trees_equal(source, dest, why, ".pnsync-partial");
}

std::optional<store::FileRecord> MirrorFixture::record(const std::string& relative) const {
  store::Store store(config.state_dir / "state.db");
  const auto id = store.ensure_mirror("mimic-cxr/2.0.0", dest.string());
  return store.find_file(id, relative);
}

}  // namespace pnsync::test
