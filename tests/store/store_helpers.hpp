// SPDX-License-Identifier: MIT
// Small helpers shared by the store tests: a sandboxed database location, DiscoveredFile
// builders, and a raw SQLite side door for checks the Store interface does not expose.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "store/store.hpp"
#include "tests/support/sandbox.hpp"

namespace pnsync::store::test {

// A Sandbox (fresh temporary directory, removed with the -wal and -shm files) with the database
// file named.
class DbSandbox : public pnsync::test::Sandbox {
public:
  std::filesystem::path db() const { return path() / "state.db"; }
};

// A 64-character "hash" made of one repeated hex digit: sha('a') != sha('b').
inline std::string sha(char digit) {
  return std::string(64, digit);
}

inline DiscoveredFile discovered(std::string path, std::optional<std::int64_t> size = std::nullopt,
                                 std::optional<std::string> sha256 = std::nullopt,
                                 std::optional<std::int64_t> mtime = std::nullopt) {
  return DiscoveredFile{std::move(path), size, std::move(sha256), mtime};
}

// Raw access to a database file, bypassing Store (and its pragmas and migrations).
class RawDb {
public:
  explicit RawDb(const std::filesystem::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      throw std::runtime_error("cannot open " + file.string());
    }
    sqlite3_busy_timeout(db_, 10000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
  }
  // The first column of the first row as text ("" for NULL or no row); rows joined by '\n'
  // when `all_rows`.
  std::string text(const std::string& sql, bool all_rows = false) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    std::string out;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (!out.empty()) out += '\n';
      const auto* p = sqlite3_column_text(stmt, 0);
      if (p) out += reinterpret_cast<const char*>(p);
      if (!all_rows) break;
    }
    const bool failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
    sqlite3_finalize(stmt);
    if (failed) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

private:
  sqlite3* db_ = nullptr;
};

}  // namespace pnsync::store::test
