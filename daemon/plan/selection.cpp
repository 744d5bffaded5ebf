// SPDX-License-Identifier: MIT
// build() streams each table once: the join table first, keeping only the `on` keys of its
// matching rows in a hash set, then the select table, keeping only the paths its matching rows
// make. Memory follows the selection, never the tables.
#include "daemon/plan/selection.hpp"

#include "common/text.hpp"

#include "config/path_template.hpp"
#include "config/values.hpp"
#include "daemon/disk/safe_path.hpp"
#include "daemon/plan/gzip_csv.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <new>
#include <unordered_set>
#include <utility>

namespace pnsync {

namespace {

using config::detail::quote;

// The report beside each MIMIC-CXR study folder (/work/shared/physionet/SERVER.md).
constexpr std::string_view kReportTemplate =
    "files/p{subject_id:0:2}/p{subject_id}/s{study_id}.txt";
constexpr std::size_t kMaxListLine = 4096;  // PATH_MAX: no listed path is longer

// Thrown inside build() only, and turned into its Result there.
struct SelectionFailure {
  Error error;
};

[[noreturn]] void refuse(std::string message, ErrorKind kind = ErrorKind::Integrity,
                         int errno_value = 0) {
  throw SelectionFailure{Error{kind, std::move(message), errno_value}};
}

void sort_unique(std::vector<std::string>& paths) {
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
}

// ---- files_from ----------------------------------------------------------------------------

std::string_view trim(std::string_view s) {
  const std::size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

bool has_dot_dot_segment(std::string_view path) {
  std::size_t begin = 0;
  for (;;) {
    const std::size_t slash = path.find('/', begin);
    if (path.substr(begin, slash - begin) == "..") return true;
    if (slash == std::string_view::npos) return false;
    begin = slash + 1;
  }
}

// One relative path per line; blank lines and lines starting with '#' are skipped, blanks around
// a path are ignored, a leading "./" (as `find .` prints) is dropped.
std::vector<std::string> read_files_from(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int error = errno;
    refuse(file.string() + ": files_from: cannot read: " + std::strerror(error),
           ErrorKind::LocalStorage, error);
  }
  std::vector<std::string> paths;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    const auto fail = [&](const std::string& why) {
      refuse(file.string() + ":" + std::to_string(number) + ": files_from: " + why);
    };
    if (line.size() > kMaxListLine)
      fail("a line longer than " + std::to_string(kMaxListLine) + " bytes is no path");
    std::string_view text = line;
    if (text.ends_with('\r')) text.remove_suffix(1);
    text = trim(text);
    if (text.empty() || text.front() == '#') continue;
    while (text.starts_with("./")) text.remove_prefix(2);
    if (text.starts_with('/'))
      fail("absolute path " + quote(text) +
           "; list paths relative to the version root, such as files/p10/p10000032/s50414267.txt");
    if (has_dot_dot_segment(text))
      fail(quote(text) + " contains \"..\"; paths must stay inside the version root");
    if (text.ends_with('/'))
      fail(quote(text) +
           " names a directory; files_from lists files (use include: [\"DIR/**\"] for a tree)");
    const std::optional<std::string> safe = safe_relative_path(text);
    if (!safe)
      fail(quote(text) +
           " is not a usable relative path (empty or \".\" segments, a backslash, control "
           "characters, invalid UTF-8, or too long)");
    paths.push_back(*safe);
  }
  if (in.bad()) {
    const int error = errno;
    refuse(file.string() + ": files_from: cannot read: " + std::strerror(error),
           ErrorKind::LocalStorage, error);
  }
  sort_unique(paths);
  return paths;
}

// ---- select --------------------------------------------------------------------------------

std::string lower_case(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

// The column `name` was probably meant to be: one within two edits ignoring case
// ("ViewPositon", "viewposition"), else the only one it begins ("dicom" -> "dicom_id").
std::optional<std::string> nearest_column(const std::vector<std::string>& header,
                                          std::string_view name) {
  std::vector<std::string> lowered;
  lowered.reserve(header.size());
  for (const std::string& column : header) lowered.push_back(lower_case(column));
  const std::vector<std::string_view> candidates(lowered.begin(), lowered.end());
  if (const auto near = config::detail::suggest(name, candidates)) {
    for (std::size_t i = 0; i < candidates.size(); ++i)
      if (candidates[i].data() == near->data()) return header[i];
  }
  const std::string prefix = lower_case(name);
  std::optional<std::string> only;
  for (std::size_t i = 0; i < lowered.size(); ++i) {
    if (!lowered[i].starts_with(prefix)) continue;
    if (only) return std::nullopt;
    only = header[i];
  }
  return only;
}

// `name` is not a column of `table`: say so, suggest the nearest column, list them all.
[[noreturn]] void no_such_column(const std::string& key, const std::string& table,
                                 const GzipCsvReader& reader, std::string_view name) {
  std::string hint;
  if (const auto near = nearest_column(reader.header(), name))
    hint = " (did you mean " + quote(*near) + "?)";
  refuse(key + ": table " + table + " has no column " + quote(name) + hint + "; its columns are " +
         reader.column_list());
}

std::size_t column_of(const std::string& key, const std::string& table, const GzipCsvReader& reader,
                      std::string_view name) {
  if (const auto index = reader.column(name)) return *index;
  no_such_column(key, table, reader, name);
}

// A `where` with its columns resolved against one table's header.
class RowFilter {
public:
  RowFilter(const config::ColumnFilter& where, const std::string& key, const std::string& table,
            const GzipCsvReader& reader) {
    for (const auto& [column, values] : where) {
      std::vector<std::string> allowed = values;
      sort_unique(allowed);
      checks_.emplace_back(column_of(key, table, reader, column), std::move(allowed));
    }
  }
  bool passes(const std::vector<std::string>& row) const {
    return std::all_of(checks_.begin(), checks_.end(), [&](const auto& check) {
      return std::binary_search(check.second.begin(), check.second.end(), row[check.first]);
    });
  }

private:
  std::vector<std::pair<std::size_t, std::vector<std::string>>> checks_;
};

// A path template with its fields resolved against one table's header.
class RowPath {
public:
  RowPath(std::string_view text, const std::string& key, const std::string& table,
          const GzipCsvReader& reader)
      : key_(key) {
    auto parsed = config::PathTemplate::parse(text);
    if (!parsed.value) refuse(key + ": " + parsed.error);
    template_ = std::move(*parsed.value);
    for (const config::PathTemplate::Field& field : template_.fields())
      columns_.push_back(column_of(key, table, reader, field.column));
    values_.resize(columns_.size());
  }
  // The row's path, checked to be a safe relative path.
  std::string render(const std::vector<std::string>& row, const GzipCsvReader& reader) {
    for (std::size_t i = 0; i < columns_.size(); ++i) values_[i] = row[columns_[i]];
    auto path = template_.render(values_);
    if (!path.value) refuse(reader.where() + key_ + ": " + path.error);
    std::optional<std::string> safe = safe_relative_path(*path.value);
    if (!safe)
      refuse(reader.where() + key_ + ": " + template_.text() + " gives " + quote(*path.value) +
             ", which is not a safe relative path");
    return std::move(*safe);
  }

private:
  std::string key_;
  config::PathTemplate template_;
  std::vector<std::size_t> columns_;
  std::vector<std::string_view> values_;
};

// The `on` values of the join table's rows that pass its `where`.
std::unordered_set<std::string> join_keys(const config::JoinSpec& join,
                                          const std::filesystem::path& tables_dir) {
  GzipCsvReader reader(tables_dir / join.table);
  const std::size_t on = column_of("select.join.on", join.table, reader, join.on);
  const RowFilter filter(join.where, "select.join.where", join.table, reader);
  std::unordered_set<std::string> keys;
  std::vector<std::string> row;
  while (reader.next(row))
    if (filter.passes(row)) keys.insert(row[on]);
  return keys;
}

// The paths made by the rows that pass, among those `keep` accepts (the other keys' verdict,
// applied as the rows stream by so that memory follows the final selection).
template <class Keep>
std::vector<std::string> select_paths(const config::SelectSpec& select,
                                      const std::filesystem::path& tables_dir, Keep&& keep,
                                      std::size_t max_selected) {
  std::optional<std::unordered_set<std::string>> keys;
  if (select.join) keys = join_keys(*select.join, tables_dir);

  GzipCsvReader reader(tables_dir / select.table);
  const RowFilter filter(select.where, "select.where", select.table, reader);
  RowPath path(select.path, "select.path", select.table, reader);
  std::optional<std::size_t> on;
  if (select.join) on = column_of("select.join.on", select.table, reader, select.join->on);
  std::optional<RowPath> report;
  if (select.with_reports)
    report.emplace(kReportTemplate, "select.with_reports", select.table, reader);

  std::vector<std::string> paths;
  // Rows repeat paths (every image of a study names its report): duplicates are dropped whenever
  // the list has doubled, so memory follows the distinct paths, which max_selected bounds.
  std::size_t compact_at = 1024;
  const auto compact = [&](const std::string& where) {
    sort_unique(paths);
    if (paths.size() > max_selected)
      refuse("select: " + where + "the table selects more than " +
             group_digits(static_cast<std::int64_t>(max_selected)) +
             " files (damaged, or not the table its name says)");
  };
  const auto add = [&](std::string selected) {
    paths.push_back(std::move(selected));
    if (paths.size() < compact_at) return;
    compact(reader.where());
    compact_at = std::max(compact_at, 2 * paths.size());
  };
  std::vector<std::string> row;
  while (reader.next(row)) {
    if (!filter.passes(row)) continue;
    if (keys && !keys->contains(row[*on])) continue;
    if (std::string image = path.render(row, reader); keep(image)) add(std::move(image));
    if (!report) continue;
    if (std::string text = report->render(row, reader); keep(text)) add(std::move(text));
  }
  compact(select.table + ": ");
  return paths;
}

std::vector<config::Glob> compile_all(const std::vector<std::string>& patterns, const char* key) {
  std::vector<config::Glob> globs;
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    auto glob = config::Glob::compile(patterns[i]);
    if (!glob.value) refuse(std::string(key) + "[" + std::to_string(i) + "]: " + glob.error);
    globs.push_back(std::move(*glob.value));
  }
  return globs;
}

// "files/p10/" or "files/p10" -> "files/p10/"; "" and "/" -> "" (the root).
std::string dir_prefix(std::string_view dir) {
  while (dir.ends_with('/')) dir.remove_suffix(1);
  return dir.empty() ? std::string() : std::string(dir) + "/";
}

}  // namespace

std::vector<std::string> Selection::required_tables(const config::SelectionSpec& spec) {
  std::vector<std::string> tables;
  if (spec.select) {
    tables.push_back(spec.select->table);
    if (spec.select->join) tables.push_back(spec.select->join->table);
  }
  sort_unique(tables);
  return tables;
}

Result<Selection> Selection::build(const config::SelectionSpec& spec,
                                   const std::filesystem::path& tables_dir,
                                   std::size_t max_selected) {
  try {
    Selection selection;
    selection.include_ = compile_all(spec.include, "include");
    selection.exclude_ = compile_all(spec.exclude, "exclude");
    selection.tables_ = required_tables(spec);

    // files_from AND select AND the patterns, then the tables.
    std::optional<std::vector<std::string>> listed;
    if (spec.files_from) listed = read_files_from(*spec.files_from);
    const auto keep = [&](const std::string& path) {
      return selection.patterns_allow(path) &&
             (!listed || std::binary_search(listed->begin(), listed->end(), path));
    };
    std::optional<std::vector<std::string>> exact;
    if (spec.select) {
      exact = select_paths(*spec.select, tables_dir, keep, max_selected);
    } else if (listed) {
      exact.emplace();
      std::copy_if(std::make_move_iterator(listed->begin()), std::make_move_iterator(listed->end()),
                   std::back_inserter(*exact),
                   [&](const std::string& path) { return selection.patterns_allow(path); });
    }
    if (exact) {
      exact->insert(exact->end(), selection.tables_.begin(), selection.tables_.end());
      sort_unique(*exact);
      selection.exact_ = std::move(exact);
    }
    return selection;
  } catch (const SelectionFailure& failure) {
    return failure.error;
  } catch (const CsvError& e) {
    return Error{e.errno_value() ? ErrorKind::LocalStorage : ErrorKind::Integrity, e.what(),
                 e.errno_value()};
  } catch (const std::bad_alloc&) {
    return Error{ErrorKind::LocalStorage, "out of memory while evaluating the selection", ENOMEM};
  }
}

bool Selection::patterns_allow(std::string_view path) const {
  const auto matches = [path](const config::Glob& glob) { return glob.matches(path); };
  if (!include_.empty() && std::none_of(include_.begin(), include_.end(), matches)) return false;
  return std::none_of(exclude_.begin(), exclude_.end(), matches);
}

bool Selection::is_table(std::string_view path) const {
  return std::binary_search(tables_.begin(), tables_.end(), path);
}

bool Selection::selected(std::string_view path) const {
  if (exact_) return std::binary_search(exact_->begin(), exact_->end(), path);
  return is_table(path) || patterns_allow(path);
}

bool Selection::may_list(std::string_view dir) const {
  const std::string prefix = dir_prefix(dir);
  const auto holds_below = [&prefix](const std::vector<std::string>& sorted) {
    const auto it = std::lower_bound(sorted.begin(), sorted.end(), prefix);
    return it != sorted.end() && it->starts_with(prefix);
  };
  if (exact_) return holds_below(*exact_);
  if (holds_below(tables_)) return true;
  if (std::any_of(exclude_.begin(), exclude_.end(),
                  [&](const config::Glob& glob) { return glob.matches_all_below(prefix); }))
    return false;
  return include_.empty() ||
         std::any_of(include_.begin(), include_.end(),
                     [&](const config::Glob& glob) { return glob.may_match_below(prefix); });
}

}  // namespace pnsync
