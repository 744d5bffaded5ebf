// SPDX-License-Identifier: MIT
// The mirrors list of the config: project, version, dest, schedule and the selection (include,
// exclude, files_from, select with its tables, joins and path template).
#include "config/mirror_keys.hpp"

#include "config/glob.hpp"
#include "config/path_template.hpp"

namespace pnsync::config::keys {

namespace {

// ---- project and version -------------------------------------------------------------------

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

}  // namespace

void parse_mirrors(const Item& item, std::vector<Mirror>& mirrors,
                   std::vector<YAML::Mark>& dest_marks) {
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
  mirrors.clear();
  dest_marks.clear();
  for (ParsedMirror& m : all) {
    mirrors.push_back(std::move(m.mirror));
    dest_marks.push_back(m.dest_at);
  }
}

}  // namespace pnsync::config::keys
