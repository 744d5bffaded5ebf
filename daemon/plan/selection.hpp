// SPDX-License-Identifier: MIT
// Which files of a mirror are wanted: the mirror's `include`, `exclude`, `files_from` and
// `select` (config::SelectionSpec) turned into the three questions the engine asks. Pure apart
// from reading the local inputs once in build(); it never talks to the server.
//
// How the parts combine: a path is selected when it passes every part that is set (AND):
//   include     some pattern matches (config/glob.hpp)
//   exclude     no pattern matches (so exclude wins over include)
//   files_from  the path is listed in the file
//   select      the path is made by `select.path` (or is the report of) a row that passes
//               `where` and, with `join`, whose `on` value has a row passing the join's `where`
// The tables that `select` reads (required_tables) are always selected, whatever the patterns
// say: the engine must have them to evaluate the selection, and a table re-fetched on every pass
// only to be deleted again would help no one.
//
// When files_from or select is set, the selected paths are a known, finite list: exact_paths()
// returns it and `selected(p)` is exactly "p is in that list". The engine can then fetch those
// paths without listing anything, or list only their parent directories (may_list) when it
// wants the listings' sizes for verification.
#pragma once

#include "common/result.hpp"
#include "config/config.hpp"
#include "config/glob.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pnsync {

class Selection {
public:
  // Selects everything: a mirror without any selection keys.
  Selection() = default;

  // Compiles the patterns, reads `files_from`, and evaluates `select` against the tables in
  // `tables_dir` (the mirror's dest, where the engine has put required_tables(spec), verified).
  // Errors are permanent for this configuration and these tables; each message names the file
  // (and line or data row) and the key at fault, e.g. "select.where: table
  // mimic-cxr-2.0.0-metadata.csv.gz has no column \"ViewPositon\" (did you mean
  // \"ViewPosition\"?); its columns are dicom_id, subject_id, ...". Kinds: LocalStorage (with
  // errno) when a file cannot be read, Integrity for everything else (bad table contents, a
  // column the table lacks, a bad files_from line), which re-fetching would not change.
  // At most `max_selected` distinct files come from `select` (a damaged or hostile table, all
  // within the reader's caps, could otherwise name hundreds of millions); PhysioNet's largest
  // projects have a few million.
  static constexpr std::size_t kMaxSelectedFiles = 10'000'000;
  static Result<Selection> build(const config::SelectionSpec& spec,
                                 const std::filesystem::path& tables_dir,
                                 std::size_t max_selected = kMaxSelectedFiles);

  // The tables (relative to the version root) that build() reads from `tables_dir`: the engine
  // fetches and verifies them first. Sorted, unique; empty without `select`.
  static std::vector<std::string> required_tables(const config::SelectionSpec& spec);
  const std::vector<std::string>& required_tables() const { return tables_; }

  // `path` is relative to the version root ("files/p10/p10000032/s50414267.txt").
  bool selected(std::string_view path) const;

  // False when no selected path can lie below directory `dir` ("files/p11/" or "files/p11"; ""
  // is the root), so the crawl need not list it. May answer true for a directory that turns out
  // to hold nothing selected; never false for one that holds a selected path.
  bool may_list(std::string_view dir) const;

  // With files_from or select: every selected path, sorted and unique (the intersection of
  // files_from and select, filtered by include and exclude, plus required_tables()). Without
  // them: nullopt, and only a crawl can find the selected files.
  const std::optional<std::vector<std::string>>& exact_paths() const { return exact_; }

  // True when every path is selected (no selection keys at all).
  bool selects_everything() const { return !exact_ && include_.empty() && exclude_.empty(); }

private:
  bool patterns_allow(std::string_view path) const;
  bool is_table(std::string_view path) const;

  std::vector<config::Glob> include_;
  std::vector<config::Glob> exclude_;
  std::vector<std::string> tables_;
  std::optional<std::vector<std::string>> exact_;
};

}  // namespace pnsync
