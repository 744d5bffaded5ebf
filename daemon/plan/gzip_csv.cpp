// SPDX-License-Identifier: MIT
// A pull parser: next() decodes from a fixed buffer refilled by gzread, so the only memory that
// grows with the input is the current record, and that is capped by CsvLimits, as is the number
// of bytes decompressed. Runs of ordinary bytes are appended in one go rather than byte by byte.
#include "daemon/plan/gzip_csv.hpp"

#include "common/text.hpp"

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace pnsync {

namespace {

constexpr std::size_t kReadBuffer = 64 * 1024;  // decompressed bytes handed over per gzread
constexpr unsigned kZlibBuffer = 128 * 1024;    // zlib's own input buffer (compressed bytes)
constexpr unsigned char kGzipMagic[2] = {0x1f, 0x8b};
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// A field's storage is kept for the next record (the caller's row is reused) up to this size;
// a longer one is given back, or a table whose records each fill a different wide column would
// keep max_fields long fields allocated at once, whatever max_record_bytes says.
constexpr std::size_t kKeptFieldCapacity = 4096;

// Bytes that end a run of an unquoted field.
constexpr std::array<bool, 256> kUnquotedStop = [] {
  std::array<bool, 256> stop{};
  stop[','] = stop['\n'] = stop['\r'] = stop['"'] = true;
  return stop;
}();

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (1u << 30) && bytes % (1u << 30) == 0) return std::to_string(bytes >> 30) + " GiB";
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

void GzipCsvReader::GzClose::operator()(gzFile_s* file) const noexcept {
  gzclose(file);
}

GzipCsvReader::GzipCsvReader(const std::filesystem::path& path, CsvLimits limits)
    : path_(path), limits_(limits) {
  // O_NOFOLLOW: the tables sit under dest, where nothing but pnsync's own files belongs.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int error = errno;
    throw CsvError(path.string() + ": cannot open: " +
                       (error == ELOOP ? "it is a symbolic link" : std::strerror(error)),
                   error);
  }
  const auto close_and_fail = [&](const std::string& why, int error) {
    ::close(fd);
    throw CsvError(path.string() + ": " + why, error);
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    close_and_fail(std::string("cannot stat: ") + std::strerror(errno), errno);
  if (!S_ISREG(st.st_mode)) close_and_fail("not a regular file", 0);
  // zlib reads a file without the gzip magic transparently, as plain text: check it ourselves.
  unsigned char magic[2] = {};
  ssize_t got = -1;
  do {
    got = ::pread(fd, magic, sizeof magic, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) close_and_fail(std::string("cannot read: ") + std::strerror(errno), errno);
  if (got < 2 || magic[0] != kGzipMagic[0] || magic[1] != kGzipMagic[1])
    close_and_fail(
        "not a gzip file (a .csv.gz table starts with the bytes 1f 8b); tables are read "
        "compressed, as the project publishes them",
        0);
  gzFile file = gzdopen(fd, "rb");  // from now on gzclose closes fd
  if (file == nullptr) close_and_fail("cannot start decompressing (out of memory)", ENOMEM);
  file_.reset(file);
  gzbuffer(file, kZlibBuffer);
  buffer_.resize(kReadBuffer);

  if (!fill()) fail("the table is empty (no header row)");
  const std::string_view head(buffer_.data(), end_);
  if (head.starts_with(kUtf8Bom)) pos_ = kUtf8Bom.size();
  if (!read_record(header_)) fail("the table is empty (no header row)");
  std::vector<std::string_view> names(header_.begin(), header_.end());
  std::sort(names.begin(), names.end());
  if (const auto twice = std::adjacent_find(names.begin(), names.end()); twice != names.end())
    fail("column \"" + printable(*twice) + "\" appears twice in the header");
}

GzipCsvReader::~GzipCsvReader() = default;
GzipCsvReader::GzipCsvReader(GzipCsvReader&&) noexcept = default;
GzipCsvReader& GzipCsvReader::operator=(GzipCsvReader&&) noexcept = default;

std::optional<std::size_t> GzipCsvReader::column(std::string_view name) const {
  const auto it = std::find(header_.begin(), header_.end(), name);
  if (it == header_.end()) return std::nullopt;
  return static_cast<std::size_t>(it - header_.begin());
}

std::string GzipCsvReader::column_list() const {
  std::string list;
  for (const std::string& name : header_) list += (list.empty() ? "" : ", ") + printable(name);
  return list;
}

std::string GzipCsvReader::where() const {
  const std::string record = rows_ == 0 ? "header" : "row " + std::to_string(rows_);
  return path_.string() + ": " + record + " (line " + std::to_string(record_line_) + "): ";
}

void GzipCsvReader::fail(const std::string& why) const {
  throw CsvError(where() + why);
}

bool GzipCsvReader::fill() {
  if (eof_) return false;
  // Never more than one byte past max_table_bytes, so that the cap stops the decompressing too.
  const std::uint64_t room = limits_.max_table_bytes - table_bytes_;
  const auto want = static_cast<unsigned>(std::min<std::uint64_t>(buffer_.size() - 1, room) + 1);
  const int got = gzread(file_.get(), buffer_.data(), want);
  int code = Z_OK;
  std::string_view message = gzerror(file_.get(), &code);
  // zlib prefixes its own name for the file, "<fd:3>: ", which says nothing here.
  if (message.starts_with("<fd:")) {
    if (const std::size_t colon = message.find(": "); colon != std::string_view::npos)
      message.remove_prefix(colon + 2);
  }
  if (got < 0 || (got == 0 && code != Z_OK)) {
    if (code == Z_ERRNO) {
      const int error = errno;
      throw CsvError(where() + "cannot read: " + std::strerror(error), error);
    }
    if (code == Z_BUF_ERROR)
      fail("the gzip data ends early (truncated file?): " + std::string(message));
    fail("corrupt gzip data: " + std::string(message));
  }
  if (got == 0) {
    eof_ = true;
    return false;
  }
  table_bytes_ += static_cast<std::uint64_t>(got);
  if (table_bytes_ > limits_.max_table_bytes)
    fail("the table decompresses to more than " + size_text(limits_.max_table_bytes) +
         " (a gzip bomb, or not a PhysioNet table)");
  pos_ = 0;
  end_ = static_cast<std::size_t>(got);
  return true;
}

bool GzipCsvReader::read_record(std::vector<std::string>& row) {
  std::size_t count = 0;         // fields completed
  std::size_t record_bytes = 0;  // the bytes of all its fields so far
  std::string* field = nullptr;
  const auto begin_field = [&] {
    if (count == limits_.max_fields)
      fail("more than " + std::to_string(limits_.max_fields) + " fields in one record");
    if (row.size() <= count) row.emplace_back();
    field = &row[count];
    field->clear();
    if (field->capacity() > kKeptFieldCapacity) field->shrink_to_fit();
  };
  const auto column_name = [&] {
    std::string name = "column " + std::to_string(count + 1);
    // While the header itself is read, row is header_: its fields are not names yet.
    if (&row != &header_ && count < header_.size()) name += " (" + printable(header_[count]) + ")";
    return name;
  };
  const auto append = [&](const char* data, std::size_t size) {
    // Over both caps, name the one its first byte too many passes first (the field's on a tie):
    // the verdict must not depend on where the reads cut the run.
    const std::size_t field_room = limits_.max_field_bytes - field->size();
    const std::size_t record_room = limits_.max_record_bytes - record_bytes;
    if (size > field_room && field_room <= record_room)
      fail(column_name() + " is longer than " + size_text(limits_.max_field_bytes));
    if (size > record_room)
      fail("the record's fields add up to more than " + size_text(limits_.max_record_bytes));
    record_bytes += size;
    field->append(data, size);
  };
  const auto end_record = [&](char c) {
    ++pos_;
    ++line_;
    after_cr_ = c == '\r';
    row.resize(++count);
    return true;
  };

  bool started = false;
  State state = State::FieldStart;
  for (;;) {
    if (pos_ == end_ && !fill()) {
      if (!started) return false;
      if (state == State::Quoted)
        fail("a quoted field in " + column_name() + " is never closed (missing '\"')");
      row.resize(++count);
      return true;
    }
    const char c = buffer_[pos_];
    if (!started) {
      if (after_cr_ && c == '\n') {  // the LF of a CRLF; the line was counted at the CR
        after_cr_ = false;
        ++pos_;
        continue;
      }
      after_cr_ = false;
      if (c == '\n' || c == '\r') {  // a blank line
        after_cr_ = c == '\r';
        ++line_;
        ++pos_;
        continue;
      }
      started = true;
      record_line_ = line_;
      if (!header_.empty()) ++rows_;
      begin_field();
    }
    switch (state) {
      case State::FieldStart:
        if (c == '"') {
          state = State::Quoted;
          ++pos_;
          break;
        }
        state = State::Unquoted;
        [[fallthrough]];
      case State::Unquoted: {
        std::size_t stop = pos_;
        while (stop < end_ && !kUnquotedStop[static_cast<unsigned char>(buffer_[stop])]) ++stop;
        append(buffer_.data() + pos_, stop - pos_);
        pos_ = stop;
        if (pos_ == end_) break;
        const char s = buffer_[pos_];
        if (s == '"')
          fail("a '\"' inside the unquoted " + column_name() +
               "; a field with quotes must be quoted whole, its quotes doubled");
        if (s == '\n' || s == '\r') return end_record(s);
        ++pos_;  // ','
        ++count;
        begin_field();
        state = State::FieldStart;
        break;
      }
      case State::Quoted: {
        const char* begin = buffer_.data() + pos_;
        const auto* quote = static_cast<const char*>(std::memchr(begin, '"', end_ - pos_));
        const std::size_t size = quote ? static_cast<std::size_t>(quote - begin) : end_ - pos_;
        line_ += static_cast<std::uint64_t>(std::count(begin, begin + size, '\n'));
        append(begin, size);
        pos_ += size;
        if (quote) {
          ++pos_;
          state = State::AfterQuote;
        }
        break;
      }
      case State::AfterQuote:
        if (c == '"') {  // a doubled quote stands for one
          append("\"", 1);
          ++pos_;
          state = State::Quoted;
        } else if (c == ',') {
          ++pos_;
          ++count;
          begin_field();
          state = State::FieldStart;
        } else if (c == '\n' || c == '\r') {
          return end_record(c);
        } else {
          fail("text after the closing quote of " + column_name() +
               " (a field with quotes must be quoted whole, its quotes doubled)");
        }
        break;
    }
  }
}

bool GzipCsvReader::next(std::vector<std::string>& row) {
  if (!read_record(row)) return false;
  if (row.size() != header_.size())
    fail(std::to_string(row.size()) + (row.size() == 1 ? " field" : " fields") +
         ", but the header has " + std::to_string(header_.size()) + " (" + column_list() + ")");
  return true;
}

}  // namespace pnsync
