// SPDX-License-Identifier: MIT
// Streams the records of a gzip-compressed CSV table (the dataset's own tables, such as
// mimic-cxr-2.0.0-metadata.csv.gz) without a decompressed copy anywhere: memory is one read
// buffer plus the current record, whatever the table's size.
//
// The dialect is RFC 4180: fields separated by ',', records ended by CRLF, LF (or a lone CR);
// a field in double quotes may hold ',', CR, LF and doubled quotes (""). The first record is the
// header. Also accepted: a UTF-8 byte order mark before the header, blank lines (skipped), a last
// record without a line end, several concatenated gzip members. Refused, with the file, the data
// row and the line where its record starts: a file that is not gzip (checked by its magic bytes,
// since zlib would read a plain file transparently), a corrupt or truncated gzip stream, a quote
// inside an unquoted field or text after a closing quote, an unclosed quote, a record whose field
// count differs from the header's, duplicate header names, and a field, record or table over the
// limits (CsvLimits: what a damaged or hostile table, such as a gzip bomb, can cost).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct gzFile_s;  // zlib's gzFile is `gzFile_s*`; its header stays out of ours

namespace pnsync {

// "PATH: row 7 (line 9): reason". errno_value is set (non-zero) for system errors only. Column
// names in the reason are escaped (common/text.hpp's printable()): no byte of the table reaches a
// message raw, and none, a NUL above all, can cut what() short.
class CsvError : public std::runtime_error {
public:
  explicit CsvError(const std::string& message, int errno_value = 0)
      : std::runtime_error(message), errno_value_(errno_value) {}
  int errno_value() const { return errno_value_; }

private:
  int errno_value_;
};

// Fixed in the code, not configurable: each is far above what any PhysioNet table holds, so a
// table over one is damaged or hostile, not large. The reader's memory is bounded through
// max_record_bytes (a few times it at most, with the storage the row keeps, plus a 64 KiB buffer
// and zlib's 400 KiB) and its time by max_table_bytes.
struct CsvLimits {
  std::size_t max_field_bytes = std::size_t{1} << 20;  // 1 MiB: no table cell is near this
  std::size_t max_fields = 4096;                       // per record
  // A record's fields together (without quotes and separators). Without it a record could
  // hold max_fields * max_field_bytes = 4 GiB. A MIMIC-CXR metadata row is about 200 bytes.
  std::size_t max_record_bytes = std::size_t{16} << 20;
  // Decompressed bytes read from the whole table, whatever its members. Memory never grows with
  // this (the table is streamed), but time does: deflate expands up to 1032:1, so a 4 MB file
  // could otherwise stand for 4 GB and a 4 GB one for 4 TB, hours of decompressing on every
  // pass. 4 GiB is over 40 times MIMIC-CXR-JPG's metadata table (377,110 rows, under 100 MB
  // decompressed), the kind of table `select` reads, and takes about 10 s (500 MB/s). No guard
  // on the compression ratio besides: sparse real tables (runs of empty cells) compress far
  // better than the 3-10:1 of typical ones, and the total alone already bounds the work.
  std::uint64_t max_table_bytes = std::uint64_t{4} << 30;
};

class GzipCsvReader {
public:
  // Opens `path` (a regular file, not a symlink) and reads the header. Throws CsvError.
  explicit GzipCsvReader(const std::filesystem::path& path, CsvLimits limits = {});
  ~GzipCsvReader();
  GzipCsvReader(GzipCsvReader&&) noexcept;
  GzipCsvReader& operator=(GzipCsvReader&&) noexcept;
  GzipCsvReader(const GzipCsvReader&) = delete;
  GzipCsvReader& operator=(const GzipCsvReader&) = delete;

  const std::vector<std::string>& header() const { return header_; }
  // The index of the column named `name` (byte-exact), if the header has it.
  std::optional<std::size_t> column(std::string_view name) const;
  // The header as "a, b, c", for messages: names escaped as common/text.hpp's printable() does.
  std::string column_list() const;

  // Reads the next record into `row` (resized to header().size(); its strings' storage is
  // reused, so a loop over a large table allocates almost nothing). Returns false at the end of
  // the table. Throws CsvError.
  bool next(std::vector<std::string>& row);

  // The data row last returned by next(): 1 for the first record after the header.
  std::uint64_t row_number() const { return rows_; }
  // The line on which that record starts (the header is on line 1, or later after blank lines).
  std::uint64_t line_number() const { return record_line_; }
  const std::filesystem::path& path() const { return path_; }
  // "PATH: row N (line L): " for the current record, to prefix a caller's own message.
  std::string where() const;

private:
  struct GzClose {
    void operator()(gzFile_s* file) const noexcept;
  };
  enum class State : std::uint8_t { FieldStart, Unquoted, Quoted, AfterQuote };

  bool read_record(std::vector<std::string>& row);  // false: clean end of input
  bool fill();                                      // false: end of input
  [[noreturn]] void fail(const std::string& why) const;

  std::filesystem::path path_;
  CsvLimits limits_;
  std::unique_ptr<gzFile_s, GzClose> file_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  bool after_cr_ = false;  // the last record ended with '\r': a '\n' right after belongs to it
  std::uint64_t line_ = 1;
  std::uint64_t record_line_ = 1;
  std::uint64_t rows_ = 0;
  std::uint64_t table_bytes_ = 0;  // decompressed bytes read so far, at most max_table_bytes
  std::vector<std::string> header_;
};

}  // namespace pnsync
