// SPDX-License-Identifier: MIT
// config/path_template: rendering rows, and the templates refused when the config is loaded.
#include "config/path_template.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using Catch::Matchers::Contains;
using pnsync::config::PathTemplate;

namespace {

const std::string kImage = "files/p{subject_id:0:2}/p{subject_id}/s{study_id}/{dicom_id}.dcm";

PathTemplate parse(const std::string& text) {
  auto parsed = PathTemplate::parse(text);
  if (!parsed.value) FAIL(text << " refused: " << parsed.error);
  return std::move(*parsed.value);
}

}  // namespace

TEST_CASE("the MIMIC-CXR image template", "[path_template]") {
  const PathTemplate image = parse(kImage);
  REQUIRE(image.fields().size() == 4);
  CHECK(image.fields()[0].column == "subject_id");
  CHECK(image.fields()[0].start == 0);
  CHECK(image.fields()[0].length == 2u);
  CHECK(image.fields()[0].text == "{subject_id:0:2}");
  CHECK(image.fields()[1].column == "subject_id");
  CHECK_FALSE(image.fields()[1].length);
  CHECK(image.fields()[3].column == "dicom_id");
  CHECK(image.text() == kImage);

  const std::vector<std::string_view> values = {"10000032", "10000032", "50414267",
                                                "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"};
  const auto path = image.render(values);
  REQUIRE(path.value);
  CHECK(*path.value ==
        "files/p10/p10000032/s50414267/02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.dcm");
}

TEST_CASE("template fields", "[path_template]") {
  auto [text, values, expected] =
      GENERATE(table<std::string, std::vector<std::string_view>, std::string>({
          {"{a}", {"x"}, "x"},
          {"{a:1}", {"abc"}, "bc"},
          {"{a:1:1}", {"abc"}, "b"},
          {"{a:0:3}", {"abc"}, "abc"},
          {"d/{a}-{b}.txt", {"1", "2"}, "d/1-2.txt"},
          {"{{literal}}/{a}", {"x"}, "{literal}/x"},
          {"{a}{a:0:1}", {"xy", "xy"}, "xyx"},
          {"{column with space}", {"v"}, "v"},
          {"dir/{é}", {"ü"}, "dir/ü"},
      }));
  INFO(text);
  const auto path = parse(text).render(values);
  REQUIRE(path.value);
  CHECK(*path.value == expected);
}

TEST_CASE("render refuses values that cannot fill a field", "[path_template]") {
  auto [text, value, expected] = GENERATE(table<std::string, std::string_view, std::string>({
      {"p{a}", "", "a is empty"},
      {"p{a:0:2}", "1", "a \"1\" is too short for {a:0:2}"},
      {"p{a:2}", "12", "a \"12\" is too short for {a:2}"},
      {"p{a:1:2}", "12", "too short"},
  }));
  INFO(text);
  const std::vector<std::string_view> values = {value};
  const auto path = parse(text).render(values);
  REQUIRE_FALSE(path.value);
  CHECK_THAT(path.error, Contains(expected));
}

TEST_CASE("refused templates", "[path_template]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"", "must not be empty"},
      {"files/x.dcm", "names no column, so every row would give the same path"},
      {"files/{subject_id", "unclosed '{' (write \"{{\" for a literal brace)"},
      {"files/{a{b}", "unclosed '{'"},
      {"files/a}", "unmatched '}'"},
      {"files/{}", "\"{}\" names no column"},
      {"files/{:0:2}", "names no column"},
      {"{a:x:2}", "write {column:start:length} with decimal byte offsets"},
      {"{a:0:}", "decimal byte offsets"},
      {"{a:0:0}", "decimal byte offsets"},
      {"{a:-1:2}", "decimal byte offsets"},
      {"{a:1:2:3}", "decimal byte offsets"},
      {"{a:99999}", "decimal byte offsets"},
      {"/files/{a}", "must be a relative path (no leading '/')"},
      {"files/{a}/", "must name a file, not end with '/'"},
      {"files//{a}", "empty segment"},
      {"../{a}", "must not contain \".\" or \"..\" segments"},
      {"files/./{a}", "\".\" or \"..\""},
      {"files/\n{a}", "contains a control character"},
  }));
  INFO(text);
  const auto parsed = PathTemplate::parse(text);
  REQUIRE_FALSE(parsed.value);
  CHECK_THAT(parsed.error, Contains(expected));
}
