// SPDX-License-Identifier: MIT
// The RAII layer under Store: errors carry the file and SQLite's message, transactions roll back
// unless committed, and a Use always leaves its statement reset.
#include "store/sqlite.hpp"

#include <catch2/catch.hpp>

#include "tests/store/store_helpers.hpp"

namespace sqlite = pnsync::store::sqlite;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using pnsync::store::StoreError;
using pnsync::store::test::DbSandbox;

namespace {

std::int64_t count_rows(sqlite::Database& db) {
  sqlite::Statement count(db, "SELECT count(*) FROM t");
  auto use = count.use();
  use.step();
  return use.int64(0);
}

// Statements of this connection that were stepped and not reset (they pin a read snapshot).
int busy_statements(sqlite::Database& db) {
  int busy = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db.get(), nullptr); s;
       s = sqlite3_next_stmt(db.get(), s)) {
    if (sqlite3_stmt_busy(s)) ++busy;
  }
  return busy;
}

}  // namespace

TEST_CASE("errors name the database file and carry SQLite's message", "[store][sqlite]") {
  DbSandbox tmp;
  sqlite::Database db(tmp.db());
  const std::string file = tmp.db().string();

  REQUIRE_THROWS_WITH(
      sqlite::Statement(db, "SELECT * FROM missing"),
      Equals(file + ": preparing \"SELECT * FROM missing\": no such table: missing"));
  REQUIRE_THROWS_WITH(db.exec("CREATE TABLE"), Contains(file + ": executing \"CREATE TABLE\""));

  db.exec("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)");
  sqlite::Statement insert(db, "INSERT INTO t (x) VALUES (?1)");
  insert.use().bind(1).exec();
  REQUIRE_THROWS_WITH(insert.use().bind(1).exec(),
                      Equals(file + ": executing \"INSERT INTO t (x) VALUES (?1)\": " +
                             "UNIQUE constraint failed: t.x"));
  REQUIRE_THROWS_WITH(insert.use().bind(2).bind(3), Contains(file + ": binding"));
}

TEST_CASE("a database that cannot be opened is named in the error", "[store][sqlite]") {
  DbSandbox tmp;
  const auto file = tmp.path() / "no-such-dir" / "state.db";
  REQUIRE_THROWS_WITH(
      sqlite::Database(file),
      Equals(file.string() + ": cannot open database: unable to open database file"));
}

TEST_CASE("a Statement holds exactly one statement", "[store][sqlite]") {
  DbSandbox tmp;
  sqlite::Database db(tmp.db());
  CHECK_NOTHROW(sqlite::Statement(db, "SELECT 1;\n"));
  CHECK_THROWS_WITH(sqlite::Statement(db, "SELECT 1; SELECT 2"), Contains("not exactly one"));
  CHECK_THROWS_WITH(sqlite::Statement(db, "  "), Contains("not exactly one"));
}

TEST_CASE("a Transaction rolls back unless committed", "[store][sqlite]") {
  DbSandbox tmp;
  sqlite::Database db(tmp.db());
  db.exec("CREATE TABLE t (x INTEGER NOT NULL UNIQUE)");
  sqlite::Statement insert(db, "INSERT INTO t (x) VALUES (?1)");

  SECTION("left without commit") {
    {
      sqlite::Transaction txn(db);
      insert.use().bind(1).exec();
      REQUIRE(count_rows(db) == 1);
    }
    CHECK(count_rows(db) == 0);
  }
  SECTION("left by an exception halfway") {
    try {
      sqlite::Transaction txn(db);
      insert.use().bind(1).exec();
      insert.use().bind(1).exec();  // UNIQUE violation throws
      txn.commit();
    } catch (const StoreError&) {
    }
    CHECK(count_rows(db) == 0);
    CHECK(sqlite3_get_autocommit(db.get()) != 0);  // no transaction left open
  }
  SECTION("committed") {
    {
      sqlite::Transaction txn(db);
      insert.use().bind(1).exec();
      insert.use().bind(2).exec();
      txn.commit();
    }
    CHECK(count_rows(db) == 2);
  }
}

TEST_CASE("a Use leaves its statement reset, even after an error", "[store][sqlite]") {
  DbSandbox tmp;
  sqlite::Database db(tmp.db());
  db.exec("CREATE TABLE t (x INTEGER NOT NULL UNIQUE, s TEXT)");
  sqlite::Statement insert(db, "INSERT INTO t (x, s) VALUES (?1, ?2)");
  sqlite::Statement select(db, "SELECT x, s FROM t ORDER BY x");

  insert.use().bind(1).bind(std::optional<std::string>("one")).exec();
  insert.use().bind(2).bind(std::optional<std::string>()).exec();
  CHECK_THROWS_AS(insert.use().bind(2).bind("again").exec(), StoreError);
  // The failed use did not leave bindings or an error state behind.
  insert.use().bind(3).bind(std::string("three")).exec();

  {
    auto use = select.use();
    REQUIRE(use.step());  // abandoned after the first row
    CHECK(use.int64(0) == 1);
    CHECK(use.opt_text(1) == std::optional<std::string>("one"));
    CHECK(busy_statements(db) == 1);
  }
  CHECK(busy_statements(db) == 0);

  auto use = select.use();  // starts from the first row again
  REQUIRE(use.step());
  CHECK(use.int64(0) == 1);
  REQUIRE(use.step());
  CHECK(use.int64(0) == 2);
  CHECK(use.is_null(1));
  CHECK(use.opt_text(1) == std::nullopt);
  CHECK(use.text(1).empty());
  REQUIRE(use.step());
  CHECK(use.text(1) == "three");
  CHECK_FALSE(use.step());
}

TEST_CASE("brief_sql puts a statement on one short line", "[store][sqlite]") {
  using sqlite::brief_sql;
  CHECK(brief_sql("\n  SELECT a,\n         b\n  FROM t  \n") == "SELECT a, b FROM t");
  CHECK(brief_sql(std::string(100, 'x')) == std::string(60, 'x') + "...");
}
