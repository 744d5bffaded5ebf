// SPDX-License-Identifier: MIT
// The per-mirror selection keys (include, exclude, files_from, select, delete_unselected):
// values as parsed, and every refusal as a (yaml, message) row in the loader's FILE:LINE style.
#include "config/config.hpp"

#include "tests/config/test_env.hpp"

#include <catch2/catch.hpp>

using namespace pnsync::config;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

// A mirror entry on line 2; selection keys follow from line 5.
const std::string kMirror =
    "mirrors:\n  - project: mimic-cxr\n    version: 2.0.0\n    dest: /data/mimic-cxr\n";

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the selection example from the issue", "[config][selection]") {
  pnsync::config::test::TempDir dir;
  const auto cohort = dir.write("cohort.txt", "files/p10/p10000032/s50414267.txt\n", 0644);
  const Config config = parse_config(kMirror +
                                         "    include: [\"files/p10/**\", \"*.csv.gz\"]\n"
                                         "    exclude: [\"**/*.dcm\"]\n"
                                         "    files_from: " +
                                         cohort.string() +
                                         "\n"
                                         "    select:\n"
                                         "      table: mimic-cxr-2.0.0-metadata.csv.gz\n"
                                         "      where: { ViewPosition: [PA, AP] }\n"
                                         "      join:\n"
                                         "        table: mimic-cxr-2.0.0-split.csv.gz\n"
                                         "        on: dicom_id\n"
                                         "        where: { split: [test] }\n"
                                         "      path: \"files/p{subject_id:0:2}/p{subject_id}/"
                                         "s{study_id}/{dicom_id}.dcm\"\n"
                                         "      with_reports: true\n"
                                         "    delete_unselected: false\n",
                                     "t.yaml");
  const SelectionSpec& s = config.mirrors.at(0).selection;
  CHECK(s.include == std::vector<std::string>{"files/p10/**", "*.csv.gz"});
  CHECK(s.exclude == std::vector<std::string>{"**/*.dcm"});
  CHECK(s.files_from == cohort);
  REQUIRE(s.select);
  CHECK(s.select->table == "mimic-cxr-2.0.0-metadata.csv.gz");
  CHECK(s.select->where == ColumnFilter{{"ViewPosition", {"PA", "AP"}}});
  REQUIRE(s.select->join);
  CHECK(s.select->join->table == "mimic-cxr-2.0.0-split.csv.gz");
  CHECK(s.select->join->on == "dicom_id");
  CHECK(s.select->join->where == ColumnFilter{{"split", {"test"}}});
  CHECK(s.select->path == "files/p{subject_id:0:2}/p{subject_id}/s{study_id}/{dicom_id}.dcm");
  CHECK(s.select->with_reports);
  CHECK_FALSE(s.delete_unselected);
  CHECK(s.restricts());
}

TEST_CASE("selection defaults and short forms", "[config][selection]") {
  SECTION("no selection keys: everything") {
    const Config config = parse_config(kMirror, "t.yaml");
    const SelectionSpec& s = config.mirrors.at(0).selection;
    CHECK(s.include.empty());
    CHECK(s.exclude.empty());
    CHECK_FALSE(s.files_from);
    CHECK_FALSE(s.select);
    CHECK_FALSE(s.delete_unselected);
    CHECK_FALSE(s.restricts());
  }
  SECTION("a single pattern and a single value need no list") {
    const Config config = parse_config(kMirror +
                                           "    include: files/p10/**\n"
                                           "    delete_unselected: true\n"
                                           "    select:\n"
                                           "      table: t.csv.gz\n"
                                           "      where: {split: test, ViewPosition: ['', PA]}\n"
                                           "      path: files/{id}.dcm\n",
                                       "t.yaml");
    const SelectionSpec& s = config.mirrors.at(0).selection;
    CHECK(s.include == std::vector<std::string>{"files/p10/**"});
    CHECK(s.delete_unselected);
    REQUIRE(s.select);
    CHECK(s.select->where == ColumnFilter{{"split", {"test"}}, {"ViewPosition", {"", "PA"}}});
    CHECK_FALSE(s.select->join);
    CHECK_FALSE(s.select->with_reports);
  }
  SECTION("values keep their text: 01 stays 01") {
    const Config config = parse_config(
        kMirror + "    select: {table: t.csv.gz, where: {id: [01, 1.0]}, path: 'f/{id}'}\n",
        "t.yaml");
    CHECK(config.mirrors.at(0).selection.select->where.at("id") ==
          std::vector<std::string>{"01", "1.0"});
  }
}

TEST_CASE("selection keys fail with FILE:LINE: KEY: reason", "[config][selection]") {
  auto [yaml, expected] = GENERATE(table<std::string, std::string>({
      // include / exclude
      {"    include: [\"files/[p10\"]\n",
       "t.yaml:5: mirrors[0].include[0]: invalid pattern \"files/[p10\": unclosed '['"},
      {"    include:\n      - \"*.csv.gz\"\n      - files/\n",
       "t.yaml:7: mirrors[0].include[1]: invalid pattern \"files/\": ends with '/'"},
      {"    include: []\n",
       "t.yaml:5: mirrors[0].include: must not be an empty list (drop the key to include "
       "everything)"},
      {"    exclude: []\n",
       "t.yaml:5: mirrors[0].exclude: must not be an empty list (drop the key "
       "to exclude nothing)"},
      {"    include: {a: 1}\n",
       "t.yaml:5: mirrors[0].include: must be a glob pattern or a list of them, got a mapping"},
      {"    include:\n",
       "t.yaml:5: mirrors[0].include: must be a glob pattern or a list of them, "
       "got nothing"},
      {"    exclude: [[a]]\n",
       "t.yaml:5: mirrors[0].exclude[0]: must be a glob pattern, got a list"},
      {"    exclude: ['a**b']\n",
       "t.yaml:5: mirrors[0].exclude[0]: invalid pattern \"a**b\": "
       "\"**\" must be a whole path segment"},
      {"    includes: [a]\n",
       "t.yaml:5: mirrors[0].includes: unknown key (did you mean "
       "\"include\"?)"},
      // files_from
      {"    files_from: lists/cohort.txt\n",
       "t.yaml:5: mirrors[0].files_from: must be an absolute path, got \"lists/cohort.txt\""},
      {"    files_from: /nonexistent/cohort.txt\n",
       "t.yaml:5: mirrors[0].files_from: cannot read \"/nonexistent/cohort.txt\": No such file"},
      {"    files_from: /\n", "t.yaml:5: mirrors[0].files_from: \"/\" is not a regular file"},
      // delete_unselected
      {"    delete_unselected: yes\n",
       "t.yaml:5: mirrors[0].delete_unselected: must be true or false, got \"yes\""},
      // select
      {"    select: metadata.csv.gz\n",
       "t.yaml:5: mirrors[0].select: must be a mapping of keys, got a single value"},
      {"    select:\n      path: f/{a}\n",
       "t.yaml:6: mirrors[0].select.table: required key is missing (the table whose rows select "
       "files)"},
      {"    select:\n      table: t.csv.gz\n",
       "t.yaml:6: mirrors[0].select.path: required key is missing (the file of each row"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      wher: {a: [1]}\n",
       "t.yaml:8: mirrors[0].select.wher: unknown key (did you mean \"where\"?)"},
      {"    select:\n      table: metadata.csv\n      path: f/{a}\n",
       "t.yaml:6: mirrors[0].select.table: must name a *.csv.gz file (a gzip CSV table of the "
       "project, relative to the version root, such as mimic-cxr-2.0.0-metadata.csv.gz), got "
       "\"metadata.csv\""},
      {"    select:\n      table: /srv/t.csv.gz\n      path: f/{a}\n",
       "t.yaml:6: mirrors[0].select.table: must be a relative path"},
      {"    select:\n      table: ../t.csv.gz\n      path: f/{a}\n",
       "t.yaml:6: mirrors[0].select.table: must not contain empty, \".\" or \"..\" segments"},
      {"    select:\n      table: .csv.gz\n      path: f/{a}\n",
       "t.yaml:6: mirrors[0].select.table: must name a *.csv.gz file"},
      {"    select:\n      table: t.csv.gz\n      path: \"files/{subject_id\"\n",
       "t.yaml:7: mirrors[0].select.path: template \"files/{subject_id\": unclosed '{'"},
      {"    select:\n      table: t.csv.gz\n      path: files/x.dcm\n",
       "t.yaml:7: mirrors[0].select.path: template \"files/x.dcm\": names no column"},
      {"    select:\n      table: t.csv.gz\n      path: /files/{a}\n",
       "t.yaml:7: mirrors[0].select.path: template \"/files/{a}\": must be a relative path"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      where: [a]\n",
       "t.yaml:8: mirrors[0].select.where: must be a mapping of keys, got a list"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      where: {}\n",
       "t.yaml:8: mirrors[0].select.where: must name at least one column"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      where: {ViewPosition: []}\n",
       "t.yaml:8: mirrors[0].select.where.ViewPosition: must not be an empty list (list the values "
       "to keep, or drop the column)"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      where:\n        a: [1]\n"
       "        a: [2]\n",
       "t.yaml:10: mirrors[0].select.where.a: duplicate column (first set on line 9)"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      where: {a: {b: c}}\n",
       "t.yaml:8: mirrors[0].select.where.a: must be a value or a list of them, got a mapping"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      with_reports: 1\n",
       "t.yaml:8: mirrors[0].select.with_reports: must be true or false, got \"1\""},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      join:\n        table: "
       "s.csv.gz\n",
       "t.yaml:9: mirrors[0].select.join.on: required key is missing (the column both tables "
       "share"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      join:\n        on: id\n",
       "t.yaml:9: mirrors[0].select.join.table: required key is missing"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      join:\n        table: "
       "s.csv.gz\n        onn: id\n",
       "t.yaml:10: mirrors[0].select.join.onn: unknown key (did you mean \"on\"?)"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      join:\n        table: "
       "s.csv\n        on: id\n",
       "t.yaml:9: mirrors[0].select.join.table: must name a *.csv.gz file"},
      {"    select:\n      table: t.csv.gz\n      path: f/{a}\n      join:\n        table: "
       "s.csv.gz\n        on: id\n        where: {split: []}\n",
       "t.yaml:11: mirrors[0].select.join.where.split: must not be an empty list"},
  }));
  INFO(yaml);
  const std::string message = error_of(kMirror + yaml);
  CHECK_THAT(message, Contains(expected));
  CHECK_THAT(message, StartsWith("t.yaml"));
}

TEST_CASE("files_from must exist when the config is loaded", "[config][selection]") {
  pnsync::config::test::TempDir dir;
  const auto list = dir.write("cohort.txt", "# nothing yet\n", 0644);
  const Config config = parse_config(kMirror + "    files_from: " + list.string() + "\n", "t.yaml");
  CHECK(config.mirrors.at(0).selection.files_from == list);
  CHECK_THAT(error_of(kMirror + "    files_from: " + dir.path().string() + "\n"),
             Contains("t.yaml:5: mirrors[0].files_from: \"" + dir.path().string() +
                      "\" is not a regular file"));
}
