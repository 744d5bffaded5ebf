// SPDX-License-Identifier: MIT
// YAML -> Config. Each mapping is described by a table of keys and handlers; parse_map() walks
// a mapping against its table (unknown and duplicate keys, did-you-mean), and each handler turns
// one value into a field with the pure parsers of values.hpp. Every failure is a ConfigError
// "FILE:LINE: key.path: reason".
#include "config/config.hpp"

#include "config/glob.hpp"
#include "config/path_template.hpp"
#include "config/values.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <sys/stat.h>
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

using detail::quote;
using std::chrono::milliseconds;

// One node of the document with what a message needs: the file, the key path and the line.
struct Item {
  const std::string& file;
  YAML::Node node;
  std::string path;  // "transfers", "credentials.username", "mirrors[0].dest"
  YAML::Mark mark;   // the value's own mark, or its key's when the value is empty
};

[[noreturn]] void fail_at(const std::string& file, const YAML::Mark& mark, const std::string& path,
                          const std::string& why) {
  std::string message = file;
  if (!mark.is_null()) message += ":" + std::to_string(mark.line + 1);
  message += ": ";
  if (!path.empty()) message += path + ": ";
  throw ConfigError(message + why);
}

[[noreturn]] void fail(const Item& item, const std::string& why) {
  fail_at(item.file, item.mark, item.path, why);
}

std::string line_of(const YAML::Mark& mark) {
  return std::to_string(mark.line + 1);
}

const char* kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "nothing";
  }
}

// The scalar text of `item`, which must be `what` ("an integer", "a path", ...). Values of the
// wrong shape are never echoed: they might hold a secret someone pasted in the wrong place.
std::string scalar(const Item& item, const char* what) {
  if (item.node.IsNull()) fail(item, std::string("missing value (expected ") + what + ")");
  if (!item.node.IsScalar())
    fail(item, std::string("must be ") + what + ", got " + kind(item.node));
  return item.node.Scalar();
}

void expect_map(const Item& item) {
  if (!item.node.IsMap())
    fail(item, std::string("must be a mapping of keys, got ") + kind(item.node));
}

template <class T>
T value_or_fail(const Item& item, detail::Parsed<T> parsed) {
  if (!parsed.value) fail(item, parsed.error);
  return std::move(*parsed.value);
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// ---- Walking a mapping against a table of keys ---------------------------------------------

template <class T>
struct Key {
  std::string_view name;
  std::function<void(const Item&, T&)> apply;
  bool hidden = false;  // not offered in suggestions or key lists (a key that is always an error)
};

// The keys that were present, with the line of each key.
using Seen = std::map<std::string, YAML::Mark, std::less<>>;

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

template <class T>
std::string unknown_key_message(std::string_view key, const std::vector<Key<T>>& keys) {
  std::vector<std::string_view> names;
  for (const Key<T>& k : keys)
    if (!k.hidden) names.push_back(k.name);
  if (auto near = detail::suggest(key, names))
    return "unknown key (did you mean \"" + std::string(*near) + "\"?)";
  std::string list;
  for (std::string_view n : names) list += (list.empty() ? "" : ", ") + std::string(n);
  return "unknown key (expected one of: " + list + ")";
}

template <class T>
Seen parse_map(const Item& map, const std::vector<Key<T>>& keys, T& out) {
  expect_map(map);
  Seen seen;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    const YAML::Node key = it->first;  // copies: the iterator hands out a temporary pair
    if (!key.IsScalar())
      fail_at(map.file, key.Mark(), map.path,
              std::string("keys must be plain names, got ") + kind(key));
    const std::string& name = key.Scalar();
    const std::string path = child_path(map.path, name);
    if (const auto first = seen.find(name); first != seen.end())
      fail_at(map.file, key.Mark(), path,
              "duplicate key (first set on line " + line_of(first->second) + ")");
    const auto spec =
        std::find_if(keys.begin(), keys.end(), [&](const Key<T>& k) { return k.name == name; });
    if (spec == keys.end()) fail_at(map.file, key.Mark(), path, unknown_key_message(name, keys));
    seen.emplace(name, key.Mark());
    const YAML::Node value = it->second;
    spec->apply(Item{map.file, value, path, value.IsNull() ? key.Mark() : value.Mark()}, out);
  }
  return seen;
}

void require(const Item& map, const Seen& seen, std::string_view name, const std::string& why) {
  if (!seen.contains(name))
    fail_at(map.file, map.mark, child_path(map.path, name), "required key is missing" + why);
}

// ---- Handlers for kinds of values ----------------------------------------------------------

template <class T>
auto int_in(int T::*member, int min, int max) {
  return [=](const Item& item, T& out) {
    out.*member = static_cast<int>(
        value_or_fail(item, detail::parse_int(scalar(item, "an integer"), min, max)));
  };
}

template <class T, class Rep, class Period>
auto duration_in(std::chrono::duration<Rep, Period> T::*member, detail::DurationRule rule) {
  return [=](const Item& item, T& out) {
    const milliseconds value =
        value_or_fail(item, detail::parse_duration(scalar(item, "a duration"), rule));
    out.*member = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(value);
  };
}

std::filesystem::path absolute_path(const Item& item) {
  return value_or_fail(item, detail::parse_absolute_path(scalar(item, "a path")));
}

bool boolean(const Item& item) {
  const std::string text = scalar(item, "true or false");
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  fail(item, "must be true or false, got " + quote(text));
}

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

// An absolute path to a file that exists and can be read now.
std::filesystem::path readable_file(const Item& item) {
  std::filesystem::path path = absolute_path(item);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(item, "cannot read " + quote(path.string()) + ": " + std::strerror(errno));
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) fail(item, quote(path.string()) + " is not a regular file");
  return path;
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

// ---- mirrors -------------------------------------------------------------------------------

detail::DurationRule seconds_at_least(std::chrono::seconds min) {
  return {.min = min};
}

template <class T>
auto rate(std::int64_t T::*member) {
  return [=](const Item& item, T& out) {
    out.*member = value_or_fail(item, detail::parse_rate(scalar(item, "a rate")));
  };
}

bool valid_project(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool valid_version(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos)
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// ---- selection (include, exclude, files_from, select) --------------------------------------

// The elements of a list, or a single value taken as a one-element list. `if_empty` says what to
// write instead of an empty list.
std::vector<Item> list_items(const Item& item, const char* what, const std::string& if_empty) {
  if (item.node.IsScalar()) return {item};
  if (!item.node.IsSequence())
    fail(item, std::string("must be ") + what + " or a list of them, got " + kind(item.node));
  std::vector<Item> items;
  for (std::size_t i = 0; i < item.node.size(); ++i) {
    const YAML::Node element = item.node[i];
    items.push_back(Item{item.file, element, item.path + "[" + std::to_string(i) + "]",
                         element.IsNull() ? item.mark : element.Mark()});
  }
  if (items.empty()) fail(item, "must not be an empty list (" + if_empty + ")");
  return items;
}

auto patterns(std::vector<std::string> SelectionSpec::*member, const char* if_empty) {
  return [=](const Item& item, SelectionSpec& out) {
    for (const Item& element : list_items(item, "a glob pattern", if_empty)) {
      const std::string text = scalar(element, "a glob pattern");
      value_or_fail(element, Glob::compile(text));
      (out.*member).push_back(text);
    }
  };
}

// A file of the project named relative to the version root: "mimic-cxr-2.0.0-split.csv.gz".
std::string table_name(const Item& item) {
  std::string text = scalar(item, "a table file name");
  const auto bad = [&](const std::string& why) {
    fail(item, why +
                   " (a gzip CSV table of the project, relative to the version root, such as "
                   "mimic-cxr-2.0.0-metadata.csv.gz), got " +
                   quote(text));
  };
  if (has_control(text) || text.find('\\') != std::string::npos)
    bad("must not contain control characters or '\\'");
  if (text.starts_with('/')) bad("must be a relative path");
  std::size_t begin = 0;
  for (;;) {
    const std::size_t slash = text.find('/', begin);
    const std::string segment = text.substr(begin, slash - begin);
    if (segment.empty() || segment == "." || segment == "..")
      bad(R"(must not contain empty, "." or ".." segments)");
    if (slash == std::string::npos) break;
    begin = slash + 1;
  }
  if (!text.ends_with(".csv.gz") || text.size() == 7) bad("must name a *.csv.gz file");
  return text;
}

// where: {column: [value, ...]} (a single value may stand alone).
ColumnFilter column_filter(const Item& item) {
  expect_map(item);
  ColumnFilter filter;
  Seen seen;
  for (auto it = item.node.begin(); it != item.node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar() || key.Scalar().empty())
      fail_at(item.file, key.Mark(), item.path,
              std::string("keys must be column names, got ") + kind(key));
    const std::string& column = key.Scalar();
    const std::string path = child_path(item.path, column);
    if (const auto first = seen.find(column); first != seen.end())
      fail_at(item.file, key.Mark(), path,
              "duplicate column (first set on line " + line_of(first->second) + ")");
    seen.emplace(column, key.Mark());
    const YAML::Node value = it->second;
    const Item values{item.file, value, path, value.IsNull() ? key.Mark() : value.Mark()};
    std::vector<std::string>& allowed = filter[column];
    for (const Item& element :
         list_items(values, "a value", "list the values to keep, or drop the column")) {
      // Quoting keeps a value such as 01 or "" exactly as written.
      allowed.push_back(scalar(element, "a value"));
    }
  }
  if (filter.empty()) fail(item, "must name at least one column (drop the key to keep every row)");
  return filter;
}

const std::vector<Key<JoinSpec>>& join_keys() {
  static const std::vector<Key<JoinSpec>> keys = {
      {"table", [](const Item& item, JoinSpec& out) { out.table = table_name(item); }},
      {"on",
       [](const Item& item, JoinSpec& out) {
         out.on = scalar(item, "a column name");
         if (out.on.empty()) fail(item, "must not be empty");
       }},
      {"where", [](const Item& item, JoinSpec& out) { out.where = column_filter(item); }},
  };
  return keys;
}

const std::vector<Key<SelectSpec>>& select_keys() {
  static const std::vector<Key<SelectSpec>> keys = {
      {"table", [](const Item& item, SelectSpec& out) { out.table = table_name(item); }},
      {"where", [](const Item& item, SelectSpec& out) { out.where = column_filter(item); }},
      {"join",
       [](const Item& item, SelectSpec& out) {
         JoinSpec join;
         const Seen seen = parse_map(item, join_keys(), join);
         require(item, seen, "table", " (the table to join with)");
         require(item, seen, "on", " (the column both tables share, e.g. dicom_id)");
         out.join = std::move(join);
       }},
      {"path",
       [](const Item& item, SelectSpec& out) {
         const std::string text = scalar(item, "a path template");
         value_or_fail(item, PathTemplate::parse(text));
         out.path = text;
       }},
      {"with_reports", [](const Item& item, SelectSpec& out) { out.with_reports = boolean(item); }},
  };
  return keys;
}

void parse_select(const Item& item, SelectionSpec& out) {
  SelectSpec select;
  const Seen seen = parse_map(item, select_keys(), select);
  require(item, seen, "table", " (the table whose rows select files)");
  require(item, seen, "path",
          " (the file of each row, e.g. \"files/p{subject_id:0:2}/p{subject_id}/"
          "s{study_id}/{dicom_id}.dcm\")");
  out.select = std::move(select);
}

// Lifts a handler of one SelectionSpec field to the mirror's table.
std::function<void(const Item&, Mirror&)> on_selection(
    std::function<void(const Item&, SelectionSpec&)> handler) {
  return [handler = std::move(handler)](const Item& item, Mirror& mirror) {
    handler(item, mirror.selection);
  };
}

const std::vector<Key<Mirror>>& mirror_keys() {
  static const std::vector<Key<Mirror>> keys = {
      {"project",
       [](const Item& item, Mirror& out) {
         out.project = scalar(item, "a project name");
         if (!valid_project(out.project))
           fail(item, "must be lower-case letters, digits and dashes ([a-z0-9-]+), got " +
                          quote(out.project));
       }},
      {"version",
       [](const Item& item, Mirror& out) {
         out.version = scalar(item, "a version");
         if (!valid_version(out.version))
           fail(item, "must be digits separated by dots (e.g. 2.1.0), got " + quote(out.version));
       }},
      {"dest",
       [](const Item& item, Mirror& out) {
         out.dest = absolute_path(item);
         if (out.dest == "/") fail(item, "must not be the root directory");
       }},
      {"include",
       on_selection(patterns(&SelectionSpec::include, "drop the key to include everything"))},
      {"exclude",
       on_selection(patterns(&SelectionSpec::exclude, "drop the key to exclude nothing"))},
      {"files_from", on_selection([](const Item& item, SelectionSpec& out) {
         out.files_from = readable_file(item);
       })},
      {"select", on_selection(parse_select)},
      {"delete_unselected", on_selection([](const Item& item, SelectionSpec& out) {
         out.delete_unselected = boolean(item);
       })},
      {"every", duration_in(&Mirror::every, seconds_at_least(std::chrono::seconds(60)))},
      {"bandwidth_limit", rate(&Mirror::bandwidth_limit)},
  };
  return keys;
}

struct ParsedMirror {
  Mirror mirror;
  YAML::Mark at;       // the entry
  YAML::Mark dest_at;  // its dest key
};

ParsedMirror parse_mirror(const Item& item) {
  ParsedMirror parsed;
  parsed.at = item.mark;
  const Seen seen = parse_map(item, mirror_keys(), parsed.mirror);
  for (std::string_view name : {"project", "version", "dest"}) require(item, seen, name, "");
  parsed.dest_at = seen.at("dest");
  return parsed;
}

// Two mirrors must differ by name, and their destinations must neither coincide nor nest.
void check_distinct(const std::string& file, const std::vector<ParsedMirror>& all, std::size_t i) {
  const ParsedMirror& m = all[i];
  const std::string path = "mirrors[" + std::to_string(i) + "]";
  for (std::size_t j = 0; j < i; ++j) {
    const ParsedMirror& earlier = all[j];
    const std::string other =
        "mirrors[" + std::to_string(j) + "] (line " + line_of(earlier.at) + ")";
    if (earlier.mirror.name() == m.mirror.name())
      fail_at(file, m.at, path,
              "duplicate mirror " + m.mirror.name() + ", already listed as " + other);
    if (detail::paths_overlap(earlier.mirror.dest, m.mirror.dest)) {
      const char* how = earlier.mirror.dest == m.mirror.dest ? "is the same as"
                        : m.mirror.dest.string().size() > earlier.mirror.dest.string().size()
                            ? "lies inside"
                            : "contains";
      fail_at(file, m.dest_at, path + ".dest",
              quote(m.mirror.dest.string()) + " " + how + " the dest of " + other +
                  "; mirror destinations must not be equal or nested");
    }
  }
}

// The config under construction, plus what cross-key checks need to point at a line.
struct Document {
  Config config;
  std::vector<YAML::Mark> dest_marks;  // per mirror, the line of its dest key
};

void parse_mirrors(const Item& item, Document& doc) {
  if (!item.node.IsSequence())
    fail(item, std::string("must be a list of mirrors (- project: ...), got ") + kind(item.node));
  if (item.node.size() == 0) fail(item, "must list at least one mirror");
  std::vector<ParsedMirror> all;
  for (std::size_t i = 0; i < item.node.size(); ++i) {
    const YAML::Node entry = item.node[i];
    all.push_back(parse_mirror(Item{item.file, entry, item.path + "[" + std::to_string(i) + "]",
                                    entry.IsNull() ? item.mark : entry.Mark()}));
    check_distinct(item.file, all, i);
  }
  doc.config.mirrors.clear();
  doc.dest_marks.clear();
  for (ParsedMirror& m : all) {
    doc.config.mirrors.push_back(std::move(m.mirror));
    doc.dest_marks.push_back(m.dest_at);
  }
}

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
      {"mirrors", parse_mirrors},
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
