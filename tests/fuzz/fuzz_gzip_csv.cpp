// SPDX-License-Identifier: MIT
// GzipCsvReader on arbitrary bytes: every record it returns fits the header and the limits, and
// every refusal is a CsvError naming the file, never another exception, a crash or undefined
// behaviour. On text wrapped in gzip here, a second parser of the dialect, byte at a time and
// with no buffer, gives the records and the verdict the reader must match exactly, wherever its
// reads end.
//
// The input: a first byte 1f (gzip's own) means the whole input is the file, so that real
// .csv.gz tables are seeds as they are and zlib's header, deflate and checksum parsing get the
// mutations. Any other first byte wraps the rest in gzip here, so that the mutations reach the
// CSV state machine instead of dying in zlib's checks: byte 0 says how (one member, two, one cut
// short, the text repeated past the 64 KiB read buffer), bytes 1 and 2 the limits (small, so that
// every cap is hit; ff for the defaults), and the rest is the CSV text.
//
// The reader opens a path (O_NOFOLLOW, so /proc/self/fd/N of a memfd would be refused as a
// symbolic link): each input is written over one temporary file, created once and removed at
// exit, which keeps the class without a constructor for tests only and runs its real checks of
// the file. It lives in $TMPDIR, else /dev/shm (tmpfs: no disk behind the writes), else /tmp; a
// run that crashes leaves it there, named pnsync-fuzz-gzip-csv-*.
#include "common/text.hpp"
#include "daemon/plan/gzip_csv.hpp"

#include "tests/fuzz/fuzz_check.hpp"

#define ZLIB_CONST  // next_in is a pointer to const
#include <zlib.h>

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using pnsync::CsvError;
using pnsync::CsvLimits;
using pnsync::GzipCsvReader;
using Rows = std::vector<std::vector<std::string>>;

constexpr std::size_t kMaxRepeated = 160 * 1024;  // past the reader's 64 KiB buffer, twice
constexpr CsvLimits kRawLimits = {.max_field_bytes = 256,
                                  .max_fields = 32,
                                  .max_record_bytes = 1024,
                                  .max_table_bytes = 64 * 1024};

class InputFile {
public:
  InputFile() {
    const char* dir = std::getenv("TMPDIR");
    if (dir == nullptr || *dir == '\0') dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path_ = std::string(dir) + "/pnsync-fuzz-gzip-csv-XXXXXX.csv.gz";
    fd_ = ::mkstemps(path_.data(), 7);
    if (fd_ < 0) {
      std::perror("mkstemps");
      std::abort();
    }
  }
  ~InputFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Written over, then cut to size: truncating to 0 first would make ext4 flush the file when
  // the reader closes it (its guard for files replaced by truncation).
  void write(std::string_view bytes) const {
    for (std::size_t at = 0; at < bytes.size();) {
      const ssize_t wrote =
          ::pwrite(fd_, bytes.data() + at, bytes.size() - at, static_cast<off_t>(at));
      FUZZ_CHECK(wrote > 0);
      at += static_cast<std::size_t>(wrote);
    }
    FUZZ_CHECK(::ftruncate(fd_, static_cast<off_t>(bytes.size())) == 0);
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
  int fd_ = -1;
};

// One gzip member holding `text` (zlib's deflate with the gzip wrapper, as gzip(1) writes).
std::string gzip_member(std::string_view text) {
  z_stream stream{};
  FUZZ_CHECK(deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&stream, text.size()), '\0');
  stream.next_in = reinterpret_cast<const Bytef*>(text.data());
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  FUZZ_CHECK(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

CsvLimits limits_from(std::uint8_t first, std::uint8_t second) {
  CsvLimits limits;
  if (first != 0xff) {
    limits.max_field_bytes = 1 + (first & 0x0fu) * 16u;  // 1..241
    limits.max_fields = 1 + ((first >> 4) & 3u) * 5u;    // 1, 6, 11, 16
    constexpr std::size_t kTimes[] = {1, 2, 4, 64};      // 64: never the one that binds
    limits.max_record_bytes = limits.max_field_bytes * kTimes[first >> 6];
  }
  if (second != 0xff) limits.max_table_bytes = 16 + second * 64u;  // 16..16336
  return limits;
}

// What the reader must do with `text`: the records it returns (the header first) and, if it
// refuses, where and why (a phrase of its message).
struct Expected {
  Rows records;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> at;  // (row, line) of each data record
  bool refused = false;
  std::string where;        // "header (line 1): " or "row N (line L): "
  std::string_view reason;  // a phrase of the message
};

// The dialect of daemon/plan/gzip_csv.hpp, one byte at a time. Not for tables over max_table_bytes,
// where the reader's refusal comes when its reads pass the cap.
Expected parse_reference(std::string_view text, const CsvLimits& limits) {
  Expected out;
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  std::uint64_t line = 1, record_line = 1, rows = 0;
  bool after_cr = false;
  const auto refuse = [&](std::string_view reason) {
    out.refused = true;
    out.where = (rows == 0 ? std::string("header") : "row " + std::to_string(rows)) + " (line " +
                std::to_string(record_line) + "): ";
    out.reason = reason;
    return -1;
  };
  // One record into `fields`: 1, or 0 at the end of the text, or -1 refused.
  const auto record = [&](std::vector<std::string>& fields) -> int {
    fields.clear();
    for (;; ++i) {  // blank lines, and the LF of a CRLF that ended the last record
      if (i == text.size()) return 0;
      const char c = text[i];
      const bool lf_of_crlf = after_cr && c == '\n';
      after_cr = false;
      if (lf_of_crlf) continue;
      if (c != '\n' && c != '\r') break;
      after_cr = c == '\r';
      ++line;
    }
    record_line = line;
    if (!out.records.empty()) ++rows;
    std::size_t bytes = 0;
    enum { Start, Unquoted, Quoted, AfterQuote } state = Start;
    const auto begin_field = [&] {
      if (fields.size() == limits.max_fields) return false;
      fields.emplace_back();
      state = Start;
      return true;
    };
    const auto add = [&](char c) {
      if (fields.back().size() == limits.max_field_bytes) return refuse("is longer than");
      if (bytes == limits.max_record_bytes) return refuse("fields add up to more than");
      ++bytes;
      fields.back() += c;
      return 0;
    };
    if (!begin_field()) return refuse("fields in one record");
    for (;; ++i) {
      if (i == text.size()) return state == Quoted ? refuse("is never closed") : 1;
      const char c = text[i];
      const bool ends = c == '\n' || c == '\r';
      switch (state) {
        case Start:
          if (c == '"') {
            state = Quoted;
            continue;
          }
          state = Unquoted;
          [[fallthrough]];
        case Unquoted:
          if (c == '"') return refuse("inside the unquoted");
          if (ends || c == ',') break;
          if (add(c) < 0) return -1;
          continue;
        case Quoted:
          if (c == '"') {
            state = AfterQuote;
            continue;
          }
          line += c == '\n';
          if (add(c) < 0) return -1;
          continue;
        case AfterQuote:
          if (c == '"') {
            if (add(c) < 0) return -1;
            state = Quoted;
            continue;
          }
          if (!ends && c != ',') return refuse("text after the closing quote");
          break;
      }
      if (c == ',') {
        if (!begin_field()) return refuse("fields in one record");
        continue;
      }
      ++i;  // the line end
      ++line;
      after_cr = c == '\r';
      return 1;
    }
  };

  std::vector<std::string> fields;
  const int header = record(fields);
  if (header < 0) return out;
  if (header == 0) {
    refuse("the table is empty");
    return out;
  }
  if (std::set<std::string>(fields.begin(), fields.end()).size() != fields.size()) {
    refuse("appears twice in the header");
    return out;
  }
  out.records.push_back(fields);
  for (int got; (got = record(fields)) != 0;) {
    if (got < 0) return out;
    if (fields.size() != out.records.front().size()) {
      refuse("but the header has");
      return out;
    }
    out.records.push_back(fields);
    out.at.emplace_back(rows, record_line);
  }
  return out;
}

std::size_t total_bytes(const std::vector<std::string>& fields) {
  std::size_t total = 0;
  for (const std::string& field : fields) total += field.size();
  return total;
}

void check_record(const std::vector<std::string>& fields, const CsvLimits& limits) {
  FUZZ_CHECK(!fields.empty() && fields.size() <= limits.max_fields);
  for (const std::string& field : fields) FUZZ_CHECK(field.size() <= limits.max_field_bytes);
  FUZZ_CHECK(total_bytes(fields) <= limits.max_record_bytes);
}

// Reads the file whole, checking what holds for any input, and against `expected` (if given)
// every record as it comes. Returns the records (the header first) and the refusal, if any.
std::pair<Rows, std::string> read_checked(const std::string& path, const CsvLimits& limits,
                                          const Expected* expected) {
  Rows records;
  std::string refusal;
  try {
    GzipCsvReader reader(path, limits);
    const std::vector<std::string>& header = reader.header();
    check_record(header, limits);
    FUZZ_CHECK(std::set<std::string>(header.begin(), header.end()).size() == header.size());
    records.push_back(header);
    std::uint64_t table_bytes = total_bytes(header);
    std::uint64_t last_line = reader.line_number();
    std::vector<std::string> row;
    try {
      while (reader.next(row)) {
        FUZZ_CHECK(row.size() == header.size());
        check_record(row, limits);
        FUZZ_CHECK(reader.row_number() == records.size());
        FUZZ_CHECK(reader.line_number() > last_line);
        last_line = reader.line_number();
        table_bytes += total_bytes(row);
        FUZZ_CHECK(table_bytes <= limits.max_table_bytes);
        if (expected != nullptr) {
          const std::size_t n = records.size() - 1;
          FUZZ_CHECK(n < expected->at.size());
          FUZZ_CHECK(row == expected->records[n + 1]);
          FUZZ_CHECK(reader.row_number() == expected->at[n].first);
          FUZZ_CHECK(reader.line_number() == expected->at[n].second);
        }
        records.push_back(row);
      }
      FUZZ_CHECK(!reader.next(row));  // and stays at the end
    } catch (const CsvError& e) {
      // A refusal of a record names it.
      FUZZ_CHECK(std::string_view(e.what()).starts_with(reader.where()));
      throw;
    }
  } catch (const CsvError& e) {
    refusal = e.what();
    FUZZ_CHECK(refusal.starts_with(path + ": "));
    // No byte of the table raw in the message (a NUL would have cut what() short).
    FUZZ_CHECK(pnsync::printable(refusal) == refusal);
    FUZZ_CHECK(e.errno_value() == 0);  // a temporary file of ours: no system error
  } catch (const std::exception& e) {
    std::fprintf(stderr, "GzipCsvReader threw something other than CsvError: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "GzipCsvReader threw a non-std exception\n");
    std::abort();
  }
  return {std::move(records), std::move(refusal)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static InputFile file;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (size == 0 || data[0] == 0x1f) {  // the bytes are the file
    file.write(input);
    read_checked(file.path(), kRawLimits, nullptr);
    return 0;
  }
  if (size < 3) return 0;
  const unsigned how = data[0] & 3u, n = data[0] >> 2;  // n: 0..63
  const CsvLimits limits = limits_from(data[1], data[2]);
  std::string text(input.substr(3));
  std::string bytes;
  bool cut = false;
  switch (how) {
    case 0:
      bytes = gzip_member(text);
      break;
    case 1: {  // two members, split anywhere (in a field, in a CRLF, in the byte order mark)
      const std::size_t split = text.size() * n / 63;
      bytes = gzip_member(std::string_view(text).substr(0, split)) +
              gzip_member(std::string_view(text).substr(split));
      break;
    }
    case 2:  // the last 1..8 bytes (the trailer's CRC-32 and length) missing
      bytes = gzip_member(text);
      bytes.resize(bytes.size() - 1 - n % 8);
      cut = true;
      break;
    default: {  // repeated, but not far past the table cap, where the reader stops
      const std::string once = text;
      const auto most = std::min<std::uint64_t>(kMaxRepeated, limits.max_table_bytes + 1024);
      for (unsigned i = 0; i < n && !once.empty() && text.size() + once.size() <= most; ++i)
        text += once;
      bytes = gzip_member(text);
      break;
    }
  }
  file.write(bytes);

  // Over the cap the reader refuses when its reads pass it, which depends on its buffering;
  // until then it agrees with the reference.
  const bool over_cap = text.size() > limits.max_table_bytes;
  const Expected expected = parse_reference(text, limits);
  const auto [records, refusal] = read_checked(file.path(), limits, &expected);
  if (over_cap || cut) {
    FUZZ_CHECK(!refusal.empty());
    return 0;
  }
  FUZZ_CHECK(refusal.empty() == !expected.refused);
  if (expected.refused) {
    const std::string where = file.path() + ": " + expected.where;
    if (!refusal.starts_with(where) || refusal.find(expected.reason) == std::string::npos) {
      std::fprintf(stderr, "expected a refusal \"%s... %.*s ...\", got \"%.300s\"\n", where.c_str(),
                   static_cast<int>(expected.reason.size()), expected.reason.data(),
                   refusal.c_str());
      std::abort();
    }
    FUZZ_CHECK(records.size() <= expected.records.size());
  } else {
    FUZZ_CHECK(records == expected.records);
  }
  return 0;
}
