// SPDX-License-Identifier: MIT
// daemon/gzip_csv: the RFC 4180 dialect as (csv, rows) rows, special bytes at every position
// around the read buffer's edge, every refusal with its row and line, the caps on a record and
// on a whole table (gzip bombs), and a 200 MB table streamed in bounded memory.
#include "daemon/plan/gzip_csv.hpp"

#include "tests/daemon/gzip_file.hpp"
#include "tests/support/sandbox.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
using pnsync::CsvError;
using pnsync::CsvLimits;
using pnsync::GzipCsvReader;
using pnsync::test::Sandbox;
using pnsync::test::write_gzip;
using Rows = std::vector<std::vector<std::string>>;

namespace {

// The header followed by every record.
Rows read_all(const std::filesystem::path& file, CsvLimits limits = {}) {
  GzipCsvReader reader(file, limits);
  Rows rows{reader.header()};
  std::vector<std::string> row;
  while (reader.next(row)) rows.push_back(row);
  return rows;
}

std::string error_of(const std::filesystem::path& file, CsvLimits limits = {}) {
  try {
    read_all(file, limits);
  } catch (const CsvError& e) {
    return e.what();
  }
  return "(no error)";
}

// Resident set size now, from /proc/self/statm (getrusage only knows the peak).
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("RFC 4180 records", "[gzip_csv]") {
  auto [csv, expected] = GENERATE(table<std::string, Rows>({
      {"a,b\n1,2\n", {{"a", "b"}, {"1", "2"}}},
      {"a,b\r\n1,2\r\n", {{"a", "b"}, {"1", "2"}}},
      {"a,b\r1,2\r", {{"a", "b"}, {"1", "2"}}},  // old Mac line ends
      {"a,b\n1,2", {{"a", "b"}, {"1", "2"}}},    // no line end after the last record
      {"a,b\r\n1,2\n3,4\r\n", {{"a", "b"}, {"1", "2"}, {"3", "4"}}},
      {"a\n", {{"a"}}},  // a header and no rows
      // Quoted fields: commas, doubled quotes, line breaks (kept verbatim, CRLF included).
      {"a,b\n\"x,y\",z\n", {{"a", "b"}, {"x,y", "z"}}},
      {"a,b\n\"say \"\"hi\"\"\",z\n", {{"a", "b"}, {"say \"hi\"", "z"}}},
      {"a,b\n\"\"\"\",\"\"\n", {{"a", "b"}, {"\"", ""}}},
      {"a,b\n\"line 1\nline 2\",z\n", {{"a", "b"}, {"line 1\nline 2", "z"}}},
      {"a,b\r\n\"line 1\r\nline 2\",z\r\n", {{"a", "b"}, {"line 1\r\nline 2", "z"}}},
      {"\"a,1\",\"b\"\"2\"\n1,2\n", {{"a,1", "b\"2"}, {"1", "2"}}},
      // Empty fields.
      {"a,b,c\n,,\n", {{"a", "b", "c"}, {"", "", ""}}},
      {"a,b,c\n1,,3\n", {{"a", "b", "c"}, {"1", "", "3"}}},
      {"a,b\n1,\n", {{"a", "b"}, {"1", ""}}},
      {"a,b\n\"\",\"\"\n", {{"a", "b"}, {"", ""}}},
      // Blank lines are skipped; a byte order mark is dropped.
      {"a,b\n\n1,2\n\r\n\n3,4\n\n", {{"a", "b"}, {"1", "2"}, {"3", "4"}}},
      {"\xEF\xBB\xBF"
       "a,b\n1,2\n",
       {{"a", "b"}, {"1", "2"}}},
      // Bytes pass through untouched: spaces, UTF-8, tabs.
      {"a,b\n x , y\n", {{"a", "b"}, {" x ", " y"}}},
      {"name,é\ncafé,\t\n", {{"name", "é"}, {"café", "\t"}}},
  }));
  Sandbox sandbox;
  write_gzip(sandbox / "t.csv.gz", csv);
  INFO(csv);
  CHECK(read_all(sandbox / "t.csv.gz") == expected);
}

TEST_CASE("column lookup, positions and the header", "[gzip_csv]") {
  Sandbox sandbox;
  write_gzip(sandbox / "t.csv.gz", "dicom_id,subject_id\n\"multi\nline\",1\nx,2\n");
  GzipCsvReader reader(sandbox / "t.csv.gz");
  CHECK(reader.header() == std::vector<std::string>{"dicom_id", "subject_id"});
  CHECK(reader.column("subject_id") == 1u);
  CHECK_FALSE(reader.column("Subject_id"));
  CHECK(reader.column_list() == "dicom_id, subject_id");
  CHECK(reader.path() == sandbox / "t.csv.gz");
  std::vector<std::string> row;
  REQUIRE(reader.next(row));
  CHECK(reader.row_number() == 1);
  CHECK(reader.line_number() == 2);
  REQUIRE(reader.next(row));
  CHECK(reader.row_number() == 2);
  CHECK(reader.line_number() == 4);  // the quoted line break took line 3
  CHECK(reader.where() == (sandbox / "t.csv.gz").string() + ": row 2 (line 4): ");
  CHECK_FALSE(reader.next(row));
  CHECK_FALSE(reader.next(row));  // and stays at the end
}

TEST_CASE("special bytes on the read buffer's edge", "[gzip_csv]") {
  // The reader hands zlib a 64 KiB buffer: put every kind of special byte on each side of it.
  constexpr std::size_t kEdge = 64 * 1024;
  const std::string header = "a,b,c\n";
  const std::vector<std::pair<std::string, std::string>> tails = {
      {"\"x\"\"y\",z\r\n", "x\"y"},
      {"\"x\r\ny\",z\n", "x\r\ny"},
      {",z\r\n", ""},
      {"\"\",z\n", ""},
      {"\"\"\"\"\"\",z\r\n", "\"\""},
  };
  for (const auto& [tail, middle] : tails) {
    for (std::size_t pad = kEdge - header.size() - 12; pad < kEdge - header.size() + 4; ++pad) {
      Sandbox sandbox;
      const std::string first(pad, 'p');
      write_gzip(sandbox / "t.csv.gz", header + first + "," + tail + "1,2,3\n");
      const Rows rows = read_all(sandbox / "t.csv.gz");
      INFO("pad " << pad << " tail " << tail);
      REQUIRE(rows.size() == 3);
      CHECK(rows[1] == std::vector<std::string>{first, middle, "z"});
      CHECK(rows[2] == std::vector<std::string>{"1", "2", "3"});
    }
  }
}

TEST_CASE("refusals name the file, the row and the line", "[gzip_csv]") {
  auto [csv, expected] = GENERATE(table<std::string, std::string>({
      {"a,b,c\n1,2,3\n4,5\n", "t.csv.gz: row 2 (line 3): 2 fields, but the header has 3 (a, b, c)"},
      {"a,b\n1,2,3\n", "t.csv.gz: row 1 (line 2): 3 fields, but the header has 2 (a, b)"},
      {"a,b\n\"x\ny\",1\n1\n", "t.csv.gz: row 2 (line 4): 1 field, but the header has 2"},
      {"a,b\n1,x\"y\n",
       "t.csv.gz: row 1 (line 2): a '\"' inside the unquoted column 2 (b); a field with quotes "
       "must be quoted whole"},
      {"a,b\n\"x\"y,1\n", "t.csv.gz: row 1 (line 2): text after the closing quote of column 1 (a)"},
      {"a,b\n1,2\n\"open,3\n4,5\n",
       "t.csv.gz: row 2 (line 3): a quoted field in column 1 (a) is never closed"},
      {"a,b,a\n1,2,3\n", "t.csv.gz: header (line 1): column \"a\" appears twice in the header"},
      {"", "t.csv.gz: header (line 1): the table is empty (no header row)"},
      {"\n\n", "t.csv.gz: header (line 1): the table is empty (no header row)"},
  }));
  Sandbox sandbox;
  write_gzip(sandbox / "t.csv.gz", csv);
  INFO(csv);
  const std::string message = error_of(sandbox / "t.csv.gz");
  CHECK_THAT(message, StartsWith((sandbox / "t.csv.gz").string()));
  CHECK_THAT(message, Contains(expected));
}

TEST_CASE("column names in messages are escaped", "[gzip_csv]") {
  // Found by fuzz_gzip_csv: a NUL in a name ended what() there, losing the rest of the message.
  Sandbox sandbox;
  write_gzip(sandbox / "t.csv.gz", std::string("a\0b,c,a\0b\n1,2,3\n", 16));
  const std::string twice = error_of(sandbox / "t.csv.gz");
  CHECK_THAT(twice, Contains("header (line 1): column \"a\\x00b\" appears twice in the header"));
  CHECK_THAT(twice, EndsWith("appears twice in the header"));

  // Nor do terminal escapes and line breaks reach a message raw.
  write_gzip(sandbox / "u.csv.gz", "\"x\x1b[31m\",\"y\ny\"\n1\n");
  CHECK_THAT(error_of(sandbox / "u.csv.gz"),
             EndsWith("row 1 (line 3): 1 field, but the header has 2 (x\\x1b[31m, y\\ny)"));
  write_gzip(sandbox / "v.csv.gz", "\"x\ry\"\n\"open\n");
  CHECK_THAT(error_of(sandbox / "v.csv.gz"),
             Contains("row 1 (line 2): a quoted field in column 1 (x\\ry) is never closed"));
}

TEST_CASE("limits bound the memory of one record", "[gzip_csv]") {
  Sandbox sandbox;
  write_gzip(sandbox / "t.csv.gz", "a,b\n1," + std::string(100, 'x') + "\n");
  CHECK_THAT(error_of(sandbox / "t.csv.gz", {.max_field_bytes = 64}),
             Contains("row 1 (line 2): column 2 (b) is longer than 64 bytes"));
  CHECK_NOTHROW(read_all(sandbox / "t.csv.gz", {.max_field_bytes = 100}));

  write_gzip(sandbox / "q.csv.gz", "a\n\"" + std::string(100, '"') + "\"\n");
  CHECK_THAT(error_of(sandbox / "q.csv.gz", {.max_field_bytes = 49}),
             Contains("column 1 (a) is longer than 49 bytes"));
  CHECK(read_all(sandbox / "q.csv.gz", {.max_field_bytes = 50}).at(1).at(0) ==
        std::string(50, '"'));

  write_gzip(sandbox / "wide.csv.gz", "a\n" + std::string(10, ',') + "\n");
  CHECK_THAT(error_of(sandbox / "wide.csv.gz", {.max_fields = 8}),
             Contains("row 1 (line 2): more than 8 fields in one record"));

  // The default: 1 MiB per field.
  write_gzip(sandbox / "big.csv.gz", "a\n" + std::string((1 << 20) + 1, 'x') + "\n");
  CHECK_THAT(error_of(sandbox / "big.csv.gz"), Contains("column 1 (a) is longer than 1 MiB"));

  // A field of the header is not a column name yet: the message does not quote it.
  write_gzip(sandbox / "head.csv.gz", "a," + std::string(100, 'x') + "\n1,2\n");
  const std::string head = error_of(sandbox / "head.csv.gz", {.max_field_bytes = 64});
  CHECK_THAT(head, Contains("head.csv.gz: header (line 1): column 2 is longer than 64 bytes"));
  CHECK_THAT(head, !Contains("xxxx"));
}

TEST_CASE("a record's fields together are capped", "[gzip_csv]") {
  Sandbox sandbox;
  // Each field under the field cap, the three together over the record's.
  const std::string x90(90, 'x');
  write_gzip(sandbox / "t.csv.gz", "a,b,c\n1,2,3\n" + x90 + ",\"" + x90 + "\"," + x90 + "\n");
  CHECK_THAT(
      error_of(sandbox / "t.csv.gz", {.max_field_bytes = 100, .max_record_bytes = 269}),
      Contains("t.csv.gz: row 2 (line 3): the record's fields add up to more than 269 bytes"));
  CHECK(read_all(sandbox / "t.csv.gz", {.max_field_bytes = 100, .max_record_bytes = 270})
            .at(2)
            .at(1) == x90);

  // The default, 16 MiB: 17 fields of 1 MiB each (the most a field may hold).
  std::string wide = "c0";
  for (int i = 1; i < 17; ++i) wide += ",c" + std::to_string(i);
  wide += "\n";
  for (int i = 0; i < 17; ++i) wide += (i == 0 ? "" : ",") + std::string(1 << 20, 'x');
  write_gzip(sandbox / "wide.csv.gz", wide + "\n");
  CHECK_THAT(error_of(sandbox / "wide.csv.gz"),
             Contains("row 1 (line 2): the record's fields add up to more than 16 MiB"));
}

TEST_CASE("the row's storage stays bounded from record to record", "[gzip_csv]") {
  // Record k fills column k alone with 1 MiB: each record is 1 MiB, but had every field kept
  // its storage for the next record, the row would end up holding 32 MiB.
  constexpr int kColumns = 32;
  std::string csv = "c0";
  for (int i = 1; i < kColumns; ++i) csv += ",c" + std::to_string(i);
  csv += "\n";
  for (int k = 0; k < kColumns; ++k) {
    csv += std::string(static_cast<std::size_t>(k), ',') + std::string(1 << 20, 'x') +
           std::string(static_cast<std::size_t>(kColumns - 1 - k), ',') + "\n";
  }
  Sandbox sandbox;
  write_gzip(sandbox / "t.csv.gz", csv);
  GzipCsvReader reader(sandbox / "t.csv.gz");
  std::vector<std::string> row;
  std::size_t most = 0;
  while (reader.next(row)) {
    REQUIRE(row.at(reader.row_number() - 1).size() == std::size_t{1} << 20);
    std::size_t held = 0;
    for (const std::string& field : row) held += field.capacity();
    most = std::max(most, held);
  }
  CHECK(reader.row_number() == kColumns);
  INFO("the row held at most " << most << " bytes");
  CHECK(most < 4u << 20);
}

TEST_CASE("the decompressed size of a table is capped (gzip bombs)", "[gzip_csv]") {
  Sandbox sandbox;
  SECTION("exactly at the cap is allowed, one byte over is not") {
    write_gzip(sandbox / "t.csv.gz", "a,b\n1,2\n");  // 8 bytes
    CHECK(read_all(sandbox / "t.csv.gz", {.max_table_bytes = 8}).size() == 2);
    // The first read already passes the cap, before the header is parsed.
    CHECK_THAT(error_of(sandbox / "t.csv.gz", {.max_table_bytes = 7}),
               Contains("t.csv.gz: header (line 1): the table decompresses to more than 7 bytes "
                        "(a gzip bomb, or not a PhysioNet table)"));
  }

  // The bomb: a header, then 1 GiB of "1,2\n" in 1024 gzip members of 1 MiB each, a few MiB
  // on disk. The reader must stop at the cap, not decompress the rest: it has returned exactly
  // the rows that fit in 1 MiB when it refuses (without the cap it would read all 1 GiB and
  // succeed).
  SECTION("a bomb stops as soon as the cap is passed") {
    std::string rows;
    while (rows.size() < (1u << 20)) rows += "1,2\n";
    write_gzip(sandbox / "header.gz", "a,b\n");
    write_gzip(sandbox / "member.gz", rows);
    const std::string member = pnsync::test::read_file(sandbox / "member.gz");
    {
      std::ofstream out(sandbox / "bomb.csv.gz", std::ios::binary);
      out << pnsync::test::read_file(sandbox / "header.gz");
      for (int i = 0; i < 1024; ++i) out << member;
    }
    REQUIRE(std::filesystem::file_size(sandbox / "bomb.csv.gz") < 8u << 20);  // ratio > 128:1

    constexpr std::size_t kCap = std::size_t{1} << 20;
    GzipCsvReader reader(sandbox / "bomb.csv.gz", {.max_table_bytes = kCap});
    std::vector<std::string> row;
    std::string message = "(no error)";
    try {
      while (reader.next(row)) {
      }
    } catch (const CsvError& e) {
      message = e.what();
    }
    CHECK_THAT(message, Contains("bomb.csv.gz: row 262143 (line 262144): the table decompresses "
                                 "to more than 1 MiB (a gzip bomb"));
    CHECK(reader.row_number() == kCap / 4 - 1);  // the header and then 4 bytes a row
  }

  SECTION("a single-member bomb, and the default cap is 4 GiB") {
    {
      pnsync::test::GzipWriter writer(sandbox / "bomb.csv.gz", 9);
      writer.write("a,b\n");
      std::string chunk;
      while (chunk.size() < (1u << 20)) chunk += "1,2\n";
      for (int i = 0; i < 64; ++i) writer.write(chunk);
      writer.close();
    }
    REQUIRE(std::filesystem::file_size(sandbox / "bomb.csv.gz") < 1u << 20);  // 64 MiB inside
    CHECK_THAT(error_of(sandbox / "bomb.csv.gz", {.max_table_bytes = 4u << 20}),
               Contains("the table decompresses to more than 4 MiB"));
    CHECK(CsvLimits{}.max_table_bytes == std::uint64_t{4} << 30);
    GzipCsvReader reader(sandbox / "bomb.csv.gz");
    std::vector<std::string> row;
    while (reader.next(row)) {
    }
    CHECK(reader.row_number() == 64 * (1u << 20) / 4);
  }
}

TEST_CASE("files that are not gzip tables", "[gzip_csv]") {
  Sandbox sandbox;
  SECTION("plain CSV, which zlib alone would read transparently") {
    pnsync::test::write_file(sandbox / "plain.csv.gz", "a,b\n1,2\n");
    CHECK_THAT(error_of(sandbox / "plain.csv.gz"),
               Contains((sandbox / "plain.csv.gz").string() +
                        ": not a gzip file (a .csv.gz table starts with the bytes 1f 8b)"));
  }
  SECTION("an empty file") {
    pnsync::test::write_file(sandbox / "empty.csv.gz", "");
    CHECK_THAT(error_of(sandbox / "empty.csv.gz"), Contains(": not a gzip file"));
  }
  SECTION("a truncated gzip file") {
    std::string rows = "a,b\n";
    for (int i = 0; i < 20000; ++i) rows += std::to_string(i) + ",x\n";
    write_gzip(sandbox / "full.csv.gz", rows);
    const std::string bytes = pnsync::test::read_file(sandbox / "full.csv.gz");
    pnsync::test::write_file(sandbox / "cut.csv.gz", bytes.substr(0, bytes.size() / 2));
    CHECK_THAT(error_of(sandbox / "cut.csv.gz"),
               Contains("the gzip data ends early (truncated file?)"));
  }
  SECTION("corrupt gzip data") {
    write_gzip(sandbox / "ok.csv.gz", "a,b\n1,2\n");
    std::string bytes = pnsync::test::read_file(sandbox / "ok.csv.gz");
    for (std::size_t i = 10; i < bytes.size() - 8; ++i) bytes[i] = static_cast<char>(0xff);
    pnsync::test::write_file(sandbox / "bad.csv.gz", bytes);
    CHECK_THAT(error_of(sandbox / "bad.csv.gz"), Contains(": corrupt gzip data: "));
  }
  SECTION("a wrong checksum at the end") {
    write_gzip(sandbox / "ok.csv.gz", "a,b\n1,2\n");
    std::string bytes = pnsync::test::read_file(sandbox / "ok.csv.gz");
    bytes[bytes.size() - 8] = static_cast<char>(bytes[bytes.size() - 8] ^ 0x55);  // CRC-32
    pnsync::test::write_file(sandbox / "crc.csv.gz", bytes);
    CHECK_THAT(error_of(sandbox / "crc.csv.gz"),
               Contains("corrupt gzip data: incorrect data check"));
  }
  SECTION("a missing file keeps its errno") {
    try {
      GzipCsvReader reader(sandbox / "missing.csv.gz");
      FAIL("no error");
    } catch (const CsvError& e) {
      CHECK(e.errno_value() == ENOENT);
      CHECK_THAT(e.what(), Contains("missing.csv.gz: cannot open: No such file or directory"));
    }
  }
  SECTION("a directory, and a symbolic link") {
    std::filesystem::create_directories(sandbox / "dir.csv.gz");
    CHECK_THAT(error_of(sandbox / "dir.csv.gz"), Contains("dir.csv.gz: not a regular file"));
    write_gzip(sandbox / "real.csv.gz", "a\n1\n");
    std::filesystem::create_symlink(sandbox / "real.csv.gz", sandbox / "link.csv.gz");
    CHECK_THAT(error_of(sandbox / "link.csv.gz"),
               Contains("link.csv.gz: cannot open: it is a symbolic link"));
  }
  SECTION("concatenated gzip members read as one table") {
    write_gzip(sandbox / "a.gz", "a,b\n1,2\n");
    write_gzip(sandbox / "b.gz", "3,4\n");
    pnsync::test::write_file(sandbox / "ab.csv.gz", pnsync::test::read_file(sandbox / "a.gz") +
                                                        pnsync::test::read_file(sandbox / "b.gz"));
    CHECK(read_all(sandbox / "ab.csv.gz") == Rows{{"a", "b"}, {"1", "2"}, {"3", "4"}});
  }
}

TEST_CASE("a 200 MB table streams in bounded memory", "[gzip_csv][slow]") {
  Sandbox sandbox;
  const auto file = sandbox / "mimic-cxr-2.0.0-metadata.csv.gz";
  constexpr std::uint64_t kRows = 1'800'000;
  std::uint64_t plain_bytes = 0;
  {
    // Generated on the fly, 1 MB at a time: the decompressed table never exists anywhere.
    pnsync::test::GzipWriter writer(file, 1);
    std::string chunk = "dicom_id,subject_id,study_id,ViewPosition,Note\n";
    char line[256];
    for (std::uint64_t i = 0; i < kRows; ++i) {
      const int n = std::snprintf(
          line, sizeof line,
          "%08llx-bde0afdd-112c0b34-7bc16630-4e384014,%llu,%llu,%s,\"CHEST (PA AND LAT), "
          "\"\"portable\"\"\r\nrow %llu\"\r\n",
          static_cast<unsigned long long>(i), 10000000ull + i / 4, 50000000ull + i / 2,
          i % 3 == 0 ? "PA" : (i % 3 == 1 ? "AP" : "LATERAL"), static_cast<unsigned long long>(i));
      chunk.append(line, static_cast<std::size_t>(n));
      if (chunk.size() > (1u << 20)) {
        writer.write(chunk);
        plain_bytes += chunk.size();
        chunk.clear();
      }
    }
    writer.write(chunk);
    plain_bytes += chunk.size();
    writer.close();
  }
  REQUIRE(plain_bytes > 200'000'000);
  INFO("compressed " << std::filesystem::file_size(file) << " bytes, plain " << plain_bytes);

  const std::size_t resident_before = resident_bytes();
  std::size_t resident_peak = resident_before;
  GzipCsvReader reader(file);
  REQUIRE(reader.header().size() == 5);
  std::vector<std::string> row;
  std::uint64_t rows = 0, pa = 0, subject_sum = 0;
  while (reader.next(row)) {
    if (rows == 123'456) {
      CHECK(row[0] == "0001e240-bde0afdd-112c0b34-7bc16630-4e384014");
      CHECK(row[4] == "CHEST (PA AND LAT), \"portable\"\r\nrow 123456");
    }
    ++rows;
    pa += row[3] == "PA";
    subject_sum += std::stoull(row[1]) - 10000000ull;
    if (rows % 65536 == 0) resident_peak = std::max(resident_peak, resident_bytes());
  }
  CHECK(rows == kRows);
  CHECK(pa == kRows / 3);
  CHECK(subject_sum == 4 * ((kRows / 4) * (kRows / 4 - 1) / 2));  // each subject has 4 rows
  CHECK(reader.line_number() == 1 + 2 * kRows - 1);               // every record spans two lines
  // The reader holds a 64 KiB buffer, zlib's window and one record: the 200 MB never show.
  INFO("resident before " << resident_before << ", peak while reading " << resident_peak);
  CHECK(resident_peak - resident_before < 16u * 1024 * 1024);
}
