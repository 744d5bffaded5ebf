// SPDX-License-Identifier: MIT
// daemon/selection: include/exclude/files_from/select combined, exact paths, crawl pruning, and
// the errors a user meets, on small MIMIC-CXR-shaped tables generated per test.
#include "daemon/plan/selection.hpp"

#include "tests/daemon/gzip_file.hpp"
#include "tests/support/sandbox.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using pnsync::ErrorKind;
using pnsync::Selection;
using pnsync::config::JoinSpec;
using pnsync::config::SelectionSpec;
using pnsync::config::SelectSpec;
using pnsync::test::write_gzip;
using Paths = std::vector<std::string>;

namespace {

constexpr const char* kMetadata = "mimic-cxr-2.0.0-metadata.csv.gz";
constexpr const char* kSplit = "mimic-cxr-2.0.0-split.csv.gz";
constexpr const char* kImagePath =
    "files/p{subject_id:0:2}/p{subject_id}/s{study_id}/{dicom_id}.dcm";

std::string dicom(int n) {
  char id[64];
  std::snprintf(id, sizeof id, "%08x-bde0afdd-112c0b34-7bc16630-4e384014", n);
  return id;
}

struct Image {
  int n;
  const char* subject;
  const char* study;
  const char* view;
  const char* split;
};

// Seven images of four studies of three patients, in three of the ten group folders.
const std::vector<Image> kImages = {
    {1, "10000032", "50414267", "PA", "train"}, {2, "10000032", "50414267", "LATERAL", "train"},
    {3, "10000032", "53189527", "AP", "test"},  {4, "11000011", "51234567", "PA", "test"},
    {5, "11000011", "51234567", "", "test"},    {6, "19999987", "58765432", "AP", "validate"},
    {7, "19999987", "58765433", "PA", "test"},
};

std::string image_path(int n) {
  const Image& i = kImages.at(static_cast<std::size_t>(n - 1));
  return std::string("files/p") + std::string(i.subject, 2) + "/p" + i.subject + "/s" + i.study +
         "/" + dicom(n) + ".dcm";
}

std::string report_path(const char* subject, const char* study) {
  return std::string("files/p") + std::string(subject, 2) + "/p" + subject + "/s" + study + ".txt";
}

class Tables : public pnsync::test::Sandbox {
public:
  Tables() {
    // The metadata table's real columns, CRLF line ends, a quoted field with a comma.
    std::string metadata =
        "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,"
        "Columns,StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,"
        "ViewCodeSequence_CodeMeaning,PatientOrientationCodeSequence_CodeMeaning\r\n";
    std::string split = "dicom_id,study_id,subject_id,split\n";
    for (const Image& i : kImages) {
      metadata += dicom(i.n) + "," + i.subject + "," + i.study + ",\"CHEST (PA, LAT)\"," + i.view +
                  ",3056,2544,21800506,213014.531,"
                  "CHEST (PA AND LAT),postero-anterior,Erect\r\n";
      split += dicom(i.n) + "," + i.study + "," + i.subject + "," + i.split + "\n";
    }
    write_gzip(path() / kMetadata, metadata);
    write_gzip(path() / kSplit, split);
  }

  // select: table metadata, where ViewPosition in views, path kImagePath.
  static SelectSpec select(std::vector<std::string> views = {"PA", "AP"}) {
    SelectSpec select;
    select.table = kMetadata;
    select.where = {{"ViewPosition", std::move(views)}};
    select.path = kImagePath;
    return select;
  }
  static JoinSpec join_test_split() { return JoinSpec{kSplit, "dicom_id", {{"split", {"test"}}}}; }

  Selection build(const SelectionSpec& spec) const {
    auto selection = Selection::build(spec, path());
    if (!selection) FAIL("build failed: " << selection.error().message);
    return std::move(selection).value();
  }
  pnsync::Error error_of(const SelectionSpec& spec) const {
    auto selection = Selection::build(spec, path());
    if (selection) FAIL("build succeeded");
    return selection.error();
  }
};

Paths with_tables(Paths paths, const Paths& tables = {kMetadata, kSplit}) {
  paths.insert(paths.end(), tables.begin(), tables.end());
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace

TEST_CASE("no selection keys select everything", "[selection]") {
  const Selection all;
  CHECK(all.selects_everything());
  CHECK(all.selected("files/p10/p10000032/s50414267.txt"));
  CHECK(all.selected("LICENSE.txt"));
  CHECK(all.may_list(""));
  CHECK(all.may_list("files/p19/"));
  CHECK_FALSE(all.exact_paths());
  CHECK(all.required_tables().empty());

  pnsync::test::Sandbox sandbox;
  auto built = Selection::build(SelectionSpec{}, sandbox.path());
  REQUIRE(built);
  CHECK(built->selects_everything());
}

TEST_CASE("include and exclude alone: a crawl, pruned", "[selection]") {
  pnsync::test::Sandbox sandbox;
  SelectionSpec spec;
  spec.include = {"files/p10/**", "*.csv.gz"};
  spec.exclude = {"**/*.dcm", "files/p10/p10000099/**"};
  auto built = Selection::build(spec, sandbox.path());
  REQUIRE(built);
  const Selection& s = *built;
  CHECK_FALSE(s.selects_everything());
  CHECK_FALSE(s.exact_paths());
  CHECK(s.required_tables().empty());

  CHECK(s.selected("files/p10/p10000032/s50414267.txt"));
  CHECK(s.selected("mimic-cxr-2.0.0-metadata.csv.gz"));
  CHECK(s.selected("files/p12/extra.csv.gz"));
  CHECK_FALSE(s.selected("files/p10/p10000032/s50414267/" + dicom(1) + ".dcm"));  // exclude wins
  CHECK_FALSE(s.selected("files/p11/p11000011/s51234567.txt"));
  CHECK_FALSE(s.selected("LICENSE.txt"));
  CHECK_FALSE(s.selected("files/p10/p10000099/s5.txt"));

  // "*.csv.gz" may match at any depth, so only the exclude can prune.
  CHECK(s.may_list(""));
  CHECK(s.may_list("files/"));
  CHECK(s.may_list("files/p11/"));
  CHECK(s.may_list("files/p10/p10000032/"));
  CHECK_FALSE(s.may_list("files/p10/p10000099/"));
  CHECK_FALSE(s.may_list("files/p10/p10000099/s5/"));

  SECTION("without the any-depth pattern the other groups are never listed") {
    spec.include = {"files/p10/**", "/*.csv.gz"};
    auto narrow = Selection::build(spec, sandbox.path());
    REQUIRE(narrow);
    CHECK(narrow->may_list(""));
    CHECK(narrow->may_list("files/"));
    CHECK(narrow->may_list("files/p10"));
    for (const char* group : {"files/p11/", "files/p12/", "files/p19/", "files/p100/", "other/"}) {
      INFO(group);
      CHECK_FALSE(narrow->may_list(group));
    }
    CHECK(narrow->selected("mimic-cxr-2.0.0-split.csv.gz"));
    CHECK_FALSE(narrow->selected("files/p12/extra.csv.gz"));
  }
}

TEST_CASE_METHOD(Tables, "select: where and the path template", "[selection]") {
  SelectionSpec spec;
  spec.select = select();
  const Selection s = build(spec);
  CHECK(s.required_tables() == Paths{kMetadata});
  const Paths expected = with_tables(
      {image_path(1), image_path(3), image_path(4), image_path(6), image_path(7)}, {kMetadata});
  REQUIRE(s.exact_paths());
  CHECK(*s.exact_paths() == expected);
  CHECK(image_path(1) ==
        "files/p10/p10000032/s50414267/00000001-bde0afdd-112c0b34-7bc16630-4e384014.dcm");

  // selected() is exactly membership in exact_paths().
  for (int n = 1; n <= 7; ++n) {
    const std::string path = image_path(n);
    INFO(path);
    CHECK(s.selected(path) == std::binary_search(expected.begin(), expected.end(), path));
  }
  CHECK(s.selected(kMetadata));
  CHECK_FALSE(s.selected(kSplit));
  CHECK_FALSE(s.selected("LICENSE.txt"));

  SECTION("an empty value is a value") {
    spec.select = select({""});
    CHECK(*build(spec).exact_paths() == with_tables({image_path(5)}, {kMetadata}));
  }
  SECTION("several columns combine with AND") {
    spec.select->where["subject_id"] = {"10000032", "19999987"};
    CHECK(*build(spec).exact_paths() ==
          with_tables({image_path(1), image_path(3), image_path(6), image_path(7)}, {kMetadata}));
  }
  SECTION("no where: every row") {
    spec.select->where.clear();
    CHECK(build(spec).exact_paths()->size() == kImages.size() + 1);
  }
}

TEST_CASE_METHOD(Tables, "select: a table naming too many files is refused, repeats count once",
                 "[selection]") {
  SelectionSpec spec;
  spec.select = select();  // 5 images
  SECTION("distinct files over the limit") {
    const auto built = Selection::build(spec, path(), 4);
    REQUIRE_FALSE(built);
    CHECK(built.error().kind == pnsync::ErrorKind::Integrity);
    CHECK_THAT(built.error().message, Catch::Contains(kMetadata) &&
                                          Catch::Contains("the table selects more than 4 files"));
  }
  SECTION("at the limit") {
    CHECK(Selection::build(spec, path(), 5));
  }
  SECTION("many rows, few files: every image names its study's report") {
    // 3,000 rows of one study: 3,000 images and one report, kept under a limit of 3,001 only if
    // the 2,999 repeated report paths are dropped as the rows come.
    std::string metadata = "dicom_id,subject_id,study_id,ViewPosition\n";
    for (int n = 1; n <= 3000; ++n) metadata += dicom(n) + ",10000032,50414267,PA\n";
    pnsync::test::write_gzip(path() / kMetadata, metadata);
    spec.select->with_reports = true;
    auto built = Selection::build(spec, path(), 3001);
    REQUIRE(built);
    CHECK(built->exact_paths()->size() == 3001 + 1);  // and the table
  }
}

TEST_CASE_METHOD(Tables, "select with a join and reports", "[selection]") {
  SelectionSpec spec;
  spec.select = select();
  spec.select->join = join_test_split();

  const Selection joined = build(spec);
  CHECK(joined.required_tables() == Paths{kMetadata, kSplit});
  CHECK(Selection::required_tables(spec) == Paths{kMetadata, kSplit});
  CHECK(*joined.exact_paths() == with_tables({image_path(3), image_path(4), image_path(7)}));

  spec.select->with_reports = true;
  const Selection reports = build(spec);
  const Paths expected =
      with_tables({image_path(3), image_path(4), image_path(7), report_path("10000032", "53189527"),
                   report_path("11000011", "51234567"), report_path("19999987", "58765433")});
  CHECK(*reports.exact_paths() == expected);
  CHECK(report_path("10000032", "53189527") == "files/p10/p10000032/s53189527.txt");

  SECTION("a report shared by several selected images is listed once") {
    spec.select = select({"PA", "LATERAL"});
    spec.select->with_reports = true;
    const Paths paths = *build(spec).exact_paths();
    CHECK(std::count(paths.begin(), paths.end(), report_path("10000032", "50414267")) == 1);
  }

  SECTION("no listing beyond the parents of the selected paths") {
    CHECK(reports.may_list(""));
    CHECK(reports.may_list("files/"));
    CHECK(reports.may_list("files/p10/"));
    CHECK(reports.may_list("files/p10/p10000032"));
    CHECK(reports.may_list("files/p10/p10000032/s53189527/"));
    CHECK(reports.may_list("files/p19/p19999987/s58765433/"));
    CHECK_FALSE(reports.may_list("files/p10/p10000032/s50414267/"));  // train only
    CHECK_FALSE(reports.may_list("files/p19/p19999987/s58765432/"));  // validate
    CHECK_FALSE(reports.may_list("files/p12/"));
    CHECK_FALSE(reports.may_list("files/p1/"));  // a prefix of a name is not a parent
  }

  SECTION("include and exclude narrow the exact paths; the tables stay") {
    spec.include = {"files/p10/**", "files/p11/**"};
    spec.exclude = {"**/*.dcm"};
    const Selection narrowed = build(spec);
    CHECK(*narrowed.exact_paths() ==
          with_tables({report_path("10000032", "53189527"), report_path("11000011", "51234567")}));
    CHECK(narrowed.selected(kSplit));  // a required table, whatever the patterns say
    CHECK_FALSE(narrowed.selected(image_path(3)));
    CHECK_FALSE(narrowed.may_list("files/p19/"));
    CHECK_FALSE(narrowed.may_list("files/p10/p10000032/s53189527/"));
  }
}

TEST_CASE_METHOD(Tables, "files_from", "[selection]") {
  pnsync::test::write_file(path() / "lists/cohort.txt",
                           "# the test cohort\n"
                           "\n" +
                               image_path(3) + "\r\n" +          // CRLF
                               "   " + image_path(4) + "  \n" +  // blanks around
                               "./" + image_path(7) + "\n" +     // as `find .` prints it
                               image_path(3) + "\n" +            // a duplicate
                               "  # an indented comment\n" + "files/p10/p10000032/s53189527.txt\n" +
                               "files/some name with spaces.txt");  // no final line end
  SelectionSpec spec;
  spec.files_from = path() / "lists/cohort.txt";
  const Selection listed = build(spec);
  const Paths expected = {"files/p10/p10000032/s53189527.txt", image_path(3), image_path(4),
                          image_path(7), "files/some name with spaces.txt"};
  Paths sorted = expected;
  std::sort(sorted.begin(), sorted.end());
  REQUIRE(listed.exact_paths());
  CHECK(*listed.exact_paths() == sorted);
  CHECK(listed.required_tables().empty());
  CHECK(listed.selected(image_path(4)));
  CHECK_FALSE(listed.selected(image_path(1)));
  CHECK(listed.may_list("files/p11/p11000011/"));
  CHECK_FALSE(listed.may_list("files/p12/"));

  SECTION("files_from and select intersect") {
    spec.select = select();
    spec.select->with_reports = true;
    CHECK(*build(spec).exact_paths() == with_tables({"files/p10/p10000032/s53189527.txt",
                                                     image_path(3), image_path(4), image_path(7)},
                                                    {kMetadata}));
  }
  SECTION("an empty list selects nothing but the tables") {
    pnsync::test::write_file(path() / "lists/empty.txt", "# nobody yet\n");
    spec.files_from = path() / "lists/empty.txt";
    const Selection none = build(spec);
    CHECK(none.exact_paths()->empty());
    CHECK_FALSE(none.may_list(""));
    CHECK_FALSE(none.selected(image_path(1)));
  }
}

TEST_CASE_METHOD(Tables, "files_from lines are refused with file:line", "[selection]") {
  auto [line, expected] = GENERATE(table<std::string, std::string>({
      {"/files/p10/p10000032/s53189527.txt",
       "files_from: absolute path \"/files/p10/p10000032/s53189527.txt\"; list paths relative to "
       "the version root"},
      {"files/../etc/passwd",
       "files_from: \"files/../etc/passwd\" contains \"..\"; paths must "
       "stay inside the version root"},
      {"../x", "contains \"..\""},
      {"..", "contains \"..\""},
      {"files/p10/", "files_from: \"files/p10/\" names a directory; files_from lists files"},
      {"files//x.txt", "files_from: \"files//x.txt\" is not a usable relative path"},
      {"files/./x.txt", "is not a usable relative path"},
      {"files\\x.txt", "is not a usable relative path"},
      {"files/\x01.txt", "is not a usable relative path"},
      {"files/\xff.txt", "is not a usable relative path"},
      {std::string(5000, 'a'), "files_from: a line longer than 4096 bytes is no path"},
  }));
  INFO(line);
  const auto list = path() / "cohort.txt";
  pnsync::test::write_file(list, "# cohort\nfiles/p10/p10000032/s53189527.txt\n" + line + "\n");
  SelectionSpec spec;
  spec.files_from = list;
  const pnsync::Error error = error_of(spec);
  CHECK(error.kind == ErrorKind::Integrity);
  CHECK_THAT(error.message, StartsWith(list.string() + ":3: files_from: "));
  CHECK_THAT(error.message, Contains(expected));
}

TEST_CASE_METHOD(Tables, "errors name the table, the key and the columns", "[selection]") {
  SelectionSpec spec;
  spec.select = select();
  const std::string columns =
      "its columns are dicom_id, subject_id, study_id, PerformedProcedureStepDescription, "
      "ViewPosition, Rows, Columns, StudyDate, StudyTime, ProcedureCodeSequence_CodeMeaning, "
      "ViewCodeSequence_CodeMeaning, PatientOrientationCodeSequence_CodeMeaning";

  SECTION("an unknown where column") {
    spec.select->where = {{"ViewPositon", {"PA"}}};
    const auto error = error_of(spec);
    CHECK(error.kind == ErrorKind::Integrity);
    CHECK(error.message ==
          "select.where: table mimic-cxr-2.0.0-metadata.csv.gz has no column \"ViewPositon\" "
          "(did you mean \"ViewPosition\"?); " +
              columns);
  }
  SECTION("a case slip is suggested too") {
    spec.select->where = {{"viewposition", {"PA"}}};
    CHECK_THAT(error_of(spec).message, Contains("(did you mean \"ViewPosition\"?)"));
  }
  SECTION("a template field that is no column") {
    spec.select->path = "files/{dicom}.dcm";
    CHECK(error_of(spec).message ==
          "select.path: table mimic-cxr-2.0.0-metadata.csv.gz has no column \"dicom\" (did you "
          "mean \"dicom_id\"?); " +
              columns);
  }
  SECTION("a field nothing like any column") {
    spec.select->path = "files/{zzzzzzzzzz}.dcm";
    CHECK_THAT(error_of(spec).message,
               Contains("has no column \"zzzzzzzzzz\"; its columns are dicom_id, "));
  }
  SECTION("a bad template (not from a loaded config)") {
    spec.select->path = "/files/{dicom_id}";
    CHECK_THAT(error_of(spec).message,
               Contains("select.path: template \"/files/{dicom_id}\": must be a relative path"));
  }
  SECTION("join.on missing from the join table") {
    spec.select->join = JoinSpec{kSplit, "ViewPosition", {}};
    CHECK_THAT(error_of(spec).message,
               Contains("select.join.on: table mimic-cxr-2.0.0-split.csv.gz has no column "
                        "\"ViewPosition\"; its columns are dicom_id, study_id, subject_id, split"));
  }
  SECTION("join.where with an unknown column") {
    spec.select->join = JoinSpec{kSplit, "dicom_id", {{"Split", {"test"}}}};
    CHECK_THAT(error_of(spec).message,
               Contains("select.join.where: table mimic-cxr-2.0.0-split.csv.gz has no column "
                        "\"Split\" (did you mean \"split\"?)"));
  }
  SECTION("join.on missing from the select table") {
    write_gzip(path() / "records.csv.gz", "dicom_id,path\nx,files/x.dcm\n");
    spec.select = SelectSpec{"records.csv.gz", {}, JoinSpec{kSplit, "split", {}}, "{path}", false};
    CHECK_THAT(error_of(spec).message,
               Contains("select.join.on: table records.csv.gz has no column \"split\""));
  }
  SECTION("with_reports needs subject_id and study_id") {
    write_gzip(path() / "records.csv.gz", "dicom_id,path\nx,files/x.dcm\n");
    spec.select = SelectSpec{"records.csv.gz", {}, std::nullopt, "{path}", true};
    CHECK(error_of(spec).message ==
          "select.with_reports: table records.csv.gz has no column \"subject_id\"; its columns "
          "are dicom_id, path");
  }
  SECTION("a value too short for its substring, with the row") {
    write_gzip(path() / "records.csv.gz", "subject_id,study_id\n10000032,5\n1,5\n");
    spec.select =
        SelectSpec{"records.csv.gz", {}, std::nullopt, "p{subject_id:0:2}/s{study_id}", false};
    CHECK(error_of(spec).message ==
          (path() / "records.csv.gz").string() +
              ": row 2 (line 3): select.path: subject_id \"1\" is too short for {subject_id:0:2}");
  }
  SECTION("a row that would lead outside the mirror") {
    write_gzip(path() / "records.csv.gz", "id,path\n1,files/a.dcm\n2,../../etc/passwd\n");
    spec.select = SelectSpec{"records.csv.gz", {}, std::nullopt, "{path}", false};
    CHECK(error_of(spec).message ==
          (path() / "records.csv.gz").string() +
              ": row 2 (line 3): select.path: {path} gives \"../../etc/passwd\", which is not a "
              "safe relative path");
  }
  SECTION("a ragged table") {
    write_gzip(path() / kMetadata, "dicom_id,subject_id\nx,1\ny\n");
    spec.select = SelectSpec{kMetadata, {}, std::nullopt, "files/{dicom_id}.dcm", false};
    CHECK_THAT(
        error_of(spec).message,
        Contains(kMetadata + std::string(": row 2 (line 3): 1 field, but the header has 2")));
  }
  SECTION("a table that is not gzip") {
    pnsync::test::write_file(path() / kMetadata, "dicom_id,subject_id\n");
    const auto error = error_of(spec);
    CHECK(error.kind == ErrorKind::Integrity);
    CHECK_THAT(error.message, Contains(kMetadata + std::string(": not a gzip file")));
  }
  SECTION("a table the engine has not fetched") {
    std::filesystem::remove(path() / kMetadata);
    const auto error = error_of(spec);
    CHECK(error.kind == ErrorKind::LocalStorage);
    CHECK(error.errno_value == ENOENT);
    CHECK_THAT(error.message, Contains(kMetadata + std::string(": cannot open: No such file")));
  }
  SECTION("a files_from that has gone") {
    spec.files_from = path() / "gone.txt";
    const auto error = error_of(spec);
    CHECK(error.kind == ErrorKind::LocalStorage);
    CHECK_THAT(error.message, Contains("gone.txt: files_from: cannot read: No such file"));
  }
  SECTION("a bad pattern (not from a loaded config)") {
    spec.exclude = {"**/*.dcm", "files/[p1"};
    CHECK_THAT(error_of(spec).message,
               Contains("exclude[1]: invalid pattern \"files/[p1\": unclosed '['"));
  }
}

TEST_CASE_METHOD(Tables, "memory follows the selection, not the table", "[selection]") {
  // 200,000 rows, of which 3 are selected: only those 3 paths are kept.
  std::string big = "dicom_id,subject_id,study_id,ViewPosition\n";
  for (int i = 0; i < 200000; ++i)
    big += dicom(i) + ",1" + std::to_string(1000000 + i % 9000000) + ",5" +
           std::to_string(1000000 + i) + "," + (i % 70000 == 0 ? "PA" : "LATERAL") + "\n";
  write_gzip(path() / "big.csv.gz", big);
  SelectionSpec spec;
  spec.select =
      SelectSpec{"big.csv.gz", {{"ViewPosition", {"PA"}}}, std::nullopt, kImagePath, true};
  const Selection s = build(spec);
  CHECK(s.exact_paths()->size() == 3 * 2 + 1);
}
