// SPDX-License-Identifier: MIT
// Three small RAII types over the SQLite C API, after Nix's SQLite / SQLiteStmt::Use / SQLiteTxn:
// a connection, a statement prepared once and used through a scoped `Use`, and a transaction that
// rolls back unless committed. Every failure throws StoreError naming the file and sqlite3_errmsg.
// Internal to pnsync_store (and its tests); nothing else includes <sqlite3.h>.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.hpp"

// UPSERT needs 3.24, aggregate FILTER 3.30, RETURNING 3.35; Debian 12 ships 3.40.
static_assert(SQLITE_VERSION_NUMBER >= 3035000, "pnsync needs SQLite 3.35 or newer");

namespace pnsync::store::sqlite {

struct DbDeleter {
  // close_v2 defers the close until the last statement is finalized, so member order can't leak.
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using DbHandle = std::unique_ptr<sqlite3, DbDeleter>;
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// The start of a statement on one line, for error messages.
inline std::string brief_sql(std::string_view sql) {
  constexpr std::size_t kMax = 60;
  std::string out;
  for (char c : sql) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space && (out.empty() || out.back() == ' ')) continue;
    if (out.size() == kMax) return out + "...";
    out += space ? ' ' : c;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

class Database {
public:
  explicit Database(const std::filesystem::path& file) : file_(file.string()) {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    db_.reset(raw);  // open_v2 may hand back a handle even on failure; it carries the message
    if (rc != SQLITE_OK) fail("cannot open database");
  }

  sqlite3* get() const noexcept { return db_.get(); }
  const std::string& file() const noexcept { return file_; }
  int changes() const noexcept { return sqlite3_changes(db_.get()); }

  // Throws "<file>: <what>: <sqlite3_errmsg>".
  [[noreturn]] void fail(std::string_view what) const {
    const char* why = db_ ? sqlite3_errmsg(db_.get()) : "out of memory";
    throw StoreError(file_ + ": " + std::string(what) + ": " + why);
  }

  // Runs one or more statements that return no rows (pragmas, DDL, BEGIN/COMMIT).
  void exec(const std::string& sql) {
    if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      fail("executing \"" + brief_sql(sql) + "\"");
    }
  }

private:
  std::string file_;
  DbHandle db_;
};

class Statement {
public:
  Statement(Database& db, std::string_view sql) : db_(&db) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    // PERSISTENT: these statements live as long as the connection, so SQLite should not take
    // their memory from its short-lived lookaside pool.
    const int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    stmt_.reset(raw);
    if (rc != SQLITE_OK) db.fail("preparing \"" + brief_sql(sql) + "\"");
    const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (!stmt_ || rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
      throw StoreError(db.file() + ": not exactly one statement: \"" + brief_sql(sql) + "\"");
    }
  }

  // One execution: binds parameters left to right from ?1, steps, reads columns. The destructor
  // resets the statement, so an abandoned SELECT never pins a read snapshot (which would stop WAL
  // checkpoints) and the next use() starts clean even after an exception.
  class Use {
  public:
    explicit Use(Statement& s) : s_(s) {}
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    ~Use() {
      sqlite3_reset(s_.stmt_.get());
      sqlite3_clear_bindings(s_.stmt_.get());
    }

    Use& bind(std::int64_t v) { return check(sqlite3_bind_int64(stmt(), next_++, v)); }
    Use& bind(std::string_view v) {
      // TRANSIENT: SQLite copies the text, so a Use may outlive the caller's temporaries.
      // A default std::string_view has no data pointer, which SQLite would bind as NULL (and
      // `path > NULL` matches nothing): it is the empty text.
      const char* text = v.data() != nullptr ? v.data() : "";
      return check(
          sqlite3_bind_text64(stmt(), next_++, text, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }
    Use& bind_null() { return check(sqlite3_bind_null(stmt(), next_++)); }
    template <class T>
    Use& bind(const std::optional<T>& v) {
      return v ? bind(*v) : bind_null();
    }

    // True when a row is ready, false when the statement is done.
    bool step() {
      const int rc = sqlite3_step(stmt());
      if (rc == SQLITE_ROW) return true;
      if (rc != SQLITE_DONE) s_.db_->fail("executing \"" + brief_sql(sqlite3_sql(stmt())) + "\"");
      return false;
    }
    void exec() {
      while (step()) {
      }
    }

    bool is_null(int col) const { return sqlite3_column_type(stmt(), col) == SQLITE_NULL; }
    std::int64_t int64(int col) const { return sqlite3_column_int64(stmt(), col); }
    std::optional<std::int64_t> opt_int64(int col) const {
      if (is_null(col)) return std::nullopt;
      return int64(col);
    }
    std::string text(int col) const {  // "" for NULL
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt(), col));
      return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt(), col))) : "";
    }
    std::optional<std::string> opt_text(int col) const {
      if (is_null(col)) return std::nullopt;
      return text(col);
    }

  private:
    sqlite3_stmt* stmt() const noexcept { return s_.stmt_.get(); }
    Use& check(int rc) {
      if (rc != SQLITE_OK) s_.db_->fail("binding \"" + brief_sql(sqlite3_sql(stmt())) + "\"");
      return *this;
    }

    Statement& s_;
    int next_ = 1;
  };

  Use use() { return Use(*this); }

private:
  Database* db_;
  StmtHandle stmt_;
};

// BEGIN IMMEDIATE takes the write lock up front, so busy_timeout applies to it; a deferred
// transaction that upgrades from read to write gets SQLITE_BUSY at once, without waiting.
class Transaction {
public:
  explicit Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    // Some errors (SQLITE_FULL, SQLITE_IOERR) already rolled back; ROLLBACK would then fail.
    if (!committed_ && !sqlite3_get_autocommit(db_.get())) {
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  void commit() {
    db_.exec("COMMIT");
    committed_ = true;
  }

private:
  Database& db_;
  bool committed_ = false;
};

}  // namespace pnsync::store::sqlite
