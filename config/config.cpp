// SPDX-License-Identifier: MIT
// YAML -> Config: the top level, server and credentials here, the mirrors list in
// mirror_keys.cpp, both walked against tables of keys (yaml_keys.hpp). Every failure is a
// ConfigError "FILE:LINE: key.path: reason".
#include "config/config.hpp"

#include "config/mirror_keys.hpp"
#include "config/values.hpp"
#include "config/yaml_keys.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>

namespace pnsync::config {

namespace {

using namespace keys;  // the walk of the document against tables of keys (yaml_keys.hpp)

void parse_server(const Item& item, Config& config) {
  const std::string text = scalar(item, "a URL");
  const detail::Origin origin = value_or_fail(item, detail::parse_origin(text));
  if (origin.scheme == "http" && !detail::is_loopback_host(origin.host))
    fail(item,
         "http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost): "
         "credentials must never travel in clear; use https://, got " +
             quote(text));
  config.server = origin.text();
}

void parse_ca_file(const Item& item, Config& config) {
  config.ca_file = readable_file(item);
}

void parse_user_agent(const Item& item, Config& config) {
  const std::string text = scalar(item, "a string");
  if (has_control(text)) fail(item, "must not contain control characters, got " + quote(text));
  if (!text.starts_with("Wget/") && !text.starts_with("libwfdb/"))
    fail(item,
         "must start with \"Wget/\" or \"libwfdb/\": physionet.org honours Basic auth only for "
         "those user agents and answers 403 to any other, got " +
             quote(text));
  config.user_agent = text;
}

// ---- credentials ---------------------------------------------------------------------------

void parse_username(const Item& item, Credentials& out) {
  const std::string text = scalar(item, "a user name");
  if (text.empty()) fail(item, "must not be empty");
  // Not echoed: "user:password" in this field is a classic slip.
  if (text.find(':') != std::string::npos)
    fail(item, "must not contain ':' (HTTP Basic auth cannot carry it)");
  if (has_control(text)) fail(item, "must not contain control characters");
  out.username = text;
}

const std::vector<Key<Credentials>>& credential_keys() {
  static const std::vector<Key<Credentials>> keys = {
      {"username", parse_username},
      {"password_file",
       [](const Item& item, Credentials& out) { out.password_file = absolute_path(item); }},
      {"netrc", [](const Item& item, Credentials& out) { out.netrc = boolean(item); }},
      {"password",
       [](const Item& item, Credentials&) {
         fail(item,
              "not allowed: a password never goes in the config file; use password_file, "
              "netrc: true, $PNSYNC_PASSWORD or $CREDENTIALS_DIRECTORY/pnsync-password");
       },
       true},
  };
  return keys;
}

void parse_credentials(const Item& item, Config& config) {
  Credentials credentials;
  const Seen seen = parse_map(item, credential_keys(), credentials);
  require(item, seen, "username",
          " (credentials needs a username; drop the section for anonymous access)");
  if (credentials.password_file && credentials.netrc)
    fail_at(item.file, seen.at("netrc"), item.path + ".netrc",
            "cannot be combined with password_file; choose one password source");
  config.credentials = std::move(credentials);
}

// The config under construction, plus what cross-key checks need to point at a line.
struct Document {
  Config config;
  std::vector<YAML::Mark> dest_marks;  // per mirror, the line of its dest key
};

// ---- The top level -------------------------------------------------------------------------

void parse_transfers(const Item& item, Config& config) {
  const std::string text = scalar(item, "an integer or auto");
  if (text == "auto") {
    config.transfers.reset();
    return;
  }
  const auto parsed = detail::parse_int(text, 1, 256);
  if (!parsed.value) fail(item, "must be 1..256 or auto, got " + quote(text));
  config.transfers = static_cast<int>(*parsed.value);
}

// `auto` is the default, 8; 1 turns ranges off.
void parse_segments(const Item& item, Config& config) {
  const std::string text = scalar(item, "an integer or auto");
  if (text == "auto") {
    config.segments = Config{}.segments;
    return;
  }
  const auto parsed = detail::parse_int(text, 1, 32);
  if (!parsed.value) fail(item, "must be 1..32 or auto, got " + quote(text));
  config.segments = static_cast<int>(*parsed.value);
}

void parse_log_level(const Item& item, Config& config) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"error", LogLevel::Error},
      {"warning", LogLevel::Warning},
      {"info", LogLevel::Info},
      {"debug", LogLevel::Debug}};
  const std::string text = scalar(item, "a log level");
  for (const auto& [name, level] : kLevels) {
    if (text == name) {
      config.log_level = level;
      return;
    }
  }
  fail(item, "must be error, warning, info or debug, got " + quote(text));
}

// A group name as getgrnam() takes it; existence is checked where it is used (the group may be
// created after the config is written, e.g. by the package's sysusers file).
std::string group_name(const Item& item) {
  std::string text = scalar(item, "a group name");
  const bool ok =
      !text.empty() && text.size() <= 32 && text.front() != '-' &&
      std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  if (!ok) fail(item, "must be a group name (letters, digits, _ - .), got " + quote(text));
  return text;
}

detail::DurationRule millis_at_least(milliseconds min) {
  return {.min = min, .allow_ms = true};
}

// Lifts a handler of one Config field to the top-level table.
std::function<void(const Item&, Document&)> on_config(
    std::function<void(const Item&, Config&)> handler) {
  return [handler = std::move(handler)](const Item& item, Document& doc) {
    handler(item, doc.config);
  };
}

const std::vector<Key<Document>>& top_level_keys() {
  using std::chrono::seconds;
  static const std::vector<Key<Document>> keys = {
      {"server", on_config(parse_server)},
      {"ca_file", on_config(parse_ca_file)},
      {"ca_replace_system",
       on_config([](const Item& item, Config& out) { out.ca_replace_system = boolean(item); })},
      {"state_dir",
       on_config([](const Item& item, Config& out) { out.state_dir = absolute_path(item); })},
      {"user_agent", on_config(parse_user_agent)},
      {"credentials", on_config(parse_credentials)},
      {"transfers", on_config(parse_transfers)},
      {"max_transfers", on_config(int_in(&Config::max_transfers, 1, 256))},
      {"socket",
       on_config([](const Item& item, Config& out) { out.socket = absolute_path(item); })},
      {"control_group",
       on_config([](const Item& item, Config& out) { out.control_group = group_name(item); })},
      {"bandwidth_limit", on_config(rate(&Config::bandwidth_limit))},
      {"log_level", on_config(parse_log_level)},
      {"file_mode", on_config([](const Item& item, Config& out) {
         out.file_mode = value_or_fail(item, detail::parse_mode(scalar(item, "an octal mode")));
         if (out.file_mode & 07111)
           fail(item, "must not set execute, setuid, setgid or sticky bits on data files, got " +
                          quote(item.node.Scalar()));
       })},
      {"dir_mode", on_config([](const Item& item, Config& out) {
         out.dir_mode = value_or_fail(item, detail::parse_mode(scalar(item, "an octal mode")));
         if ((out.dir_mode & 0700) != 0700)
           fail(item, "must give the owner rwx (0700), got " + quote(item.node.Scalar()));
       })},
      {"group", on_config([](const Item& item, Config& out) { out.group = group_name(item); })},
      {"metrics_listen", on_config([](const Item& item, Config& out) {
         const std::string text = scalar(item, "HOST:PORT");
         value_or_fail(item, detail::parse_listen_address(text));
         out.metrics_listen = text;
       })},
      {"max_connections", on_config(int_in(&Config::max_connections, 1, 256))},
      {"max_host_connections", on_config(int_in(&Config::max_connections, 1, 256))},
      {"streams_per_connection", on_config(int_in(&Config::streams_per_connection, 1, 1000))},
      {"segments", on_config(parse_segments)},
      {"segment_size", on_config([](const Item& item, Config& out) {
         out.segment_size = value_or_fail(item, detail::parse_rate(scalar(item, "a size")));
         if (out.segment_size < (1 << 20))
           fail(item, "must be at least 1M, got " + quote(item.node.Scalar()));
       })},
      {"listing_concurrency", on_config(int_in(&Config::listing_concurrency, 1, 64))},
      {"stall_timeout",
       on_config(duration_in(&Config::stall_timeout, seconds_at_least(seconds(1))))},
      {"retry_after_max",
       on_config(duration_in(&Config::retry_after_max, seconds_at_least(seconds(1))))},
      {"connect_timeout",
       on_config(duration_in(&Config::connect_timeout, seconds_at_least(seconds(1))))},
      {"max_attempts", on_config(int_in(&Config::max_attempts, 1, 100))},
      {"retry_base", on_config(duration_in(&Config::retry_base, millis_at_least(milliseconds(1))))},
      {"retry_max", on_config(duration_in(&Config::retry_max, millis_at_least(milliseconds(1))))},
      {"relist_after", on_config(duration_in(&Config::relist_after, seconds_at_least(seconds(1))))},
      {"mirrors", [](const Item& item,
                     Document& doc) { parse_mirrors(item, doc.config.mirrors, doc.dest_marks); }},
  };
  return keys;
}

// retry_max >= retry_base; blamed on retry_max when it was written, else on retry_base.
void check_retry(const std::string& file, const Seen& seen, const Config& config) {
  if (config.retry_max >= config.retry_base) return;
  const std::string base = detail::duration_setting(config.retry_base);
  const std::string max = detail::duration_setting(config.retry_max);
  if (seen.contains("retry_max"))
    fail_at(file, seen.at("retry_max"), "retry_max",
            "must not be less than retry_base (" + base + "), got " + max);
  fail_at(file, seen.at("retry_base"), "retry_base",
          "must not exceed retry_max (" + max + "), got " + base);
}

// The state database must not sit in (or contain) a tree that is mirrored and pruned.
void check_state_dir(const std::string& file, const Seen& seen, const Document& doc) {
  const Config& config = doc.config;
  const std::string state = quote(config.state_dir.string());
  for (std::size_t i = 0; i < config.mirrors.size(); ++i) {
    if (!detail::paths_overlap(config.state_dir, config.mirrors[i].dest)) continue;
    const std::string dest_key = "mirrors[" + std::to_string(i) + "].dest";
    const std::string dest = quote(config.mirrors[i].dest.string());
    const std::string advice = "; keep the state directory outside every mirror";
    if (seen.contains("state_dir"))
      fail_at(file, seen.at("state_dir"), "state_dir",
              state + " overlaps " + dest_key + " " + dest + advice);
    fail_at(file, doc.dest_marks.at(i), dest_key,
            dest + " overlaps state_dir " + state + " (the default)" + advice);
  }
}

// Where each document of a stream starts, and where its root node is.
class DocumentMarks : public YAML::EventHandler {
public:
  std::vector<YAML::Mark> starts;
  std::vector<YAML::Mark> roots;

  void OnDocumentStart(const YAML::Mark& mark) override {
    starts.push_back(mark);
    roots.push_back(mark);
    at_root_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

private:
  void node(const YAML::Mark& mark) {
    if (at_root_) roots.back() = mark;
    at_root_ = false;
  }
  bool at_root_ = false;
};

YAML::Node single_document(const std::string& text, const std::string& file) {
  // Not YAML::LoadAll: where yaml-cpp 0.7 meets a token it cannot place at the top level (a
  // stray ',' as in "{a: 1},") it yields an empty document without consuming the token, so
  // LoadAll collects empty documents until memory runs out (yaml-cpp issue 1040, fixed upstream
  // after 0.8). Three documents tell all this needs.
  DocumentMarks documents;
  YAML::Node root;
  try {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    while (documents.starts.size() < 3 && parser.HandleNextDocument(documents)) {
    }
    if (documents.starts.size() == 1) root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail_at(file, e.mark, "", e.msg);
  }
  for (std::size_t i = 1; i < documents.starts.size(); ++i) {
    const YAML::Mark& at = documents.starts[i];
    if (at.pos != documents.starts[i - 1].pos) continue;
    const auto pos = static_cast<std::size_t>(at.pos);
    const std::string token = pos < text.size() ? text.substr(pos, 1) : "";
    fail_at(file, at, "",
            "unexpected " + quote(token) +
                (token == "," ? " (a ',' separates the items of a [list] or {mapping})" : ""));
  }
  if (documents.starts.size() > 1)
    fail_at(file, documents.roots[1], "", "a config file holds one YAML document, found a second");
  if (documents.starts.empty() || root.IsNull())
    fail_at(file, YAML::Mark::null_mark(), "",
            "the configuration is empty (at least mirrors is required)");
  return root;
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::filesystem::path& source_name) {
  const std::string file = source_name.string();
  const YAML::Node root = single_document(yaml_text, file);
  if (!root.IsMap())
    fail_at(file, root.Mark(), "",
            std::string("the top level must be a mapping of keys, got ") + kind(root));
  Document doc;
  doc.config.source_file = source_name;
  const Item top{file, root, "", root.Mark()};
  const Seen seen = parse_map(top, top_level_keys(), doc);
  if (!seen.contains("mirrors"))
    fail_at(file, YAML::Mark::null_mark(), "mirrors",
            "required key is missing (list at least one mirror)");
  check_retry(file, seen, doc.config);
  check_state_dir(file, seen, doc);
  if (doc.config.ca_replace_system && !doc.config.ca_file)
    fail_at(file, seen.at("ca_replace_system"), "ca_replace_system",
            "true needs ca_file: it replaces the system's CA certificates with ca_file's, and "
            "with none no certificate would verify");
  return std::move(doc.config);
}

Config load_config(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ConfigError(file.string() + ": cannot read: " + std::strerror(errno));
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw ConfigError(file.string() + ": cannot read: " + std::strerror(error));
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse_config(text, file);
}

}  // namespace pnsync::config
