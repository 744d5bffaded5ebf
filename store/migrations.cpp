// SPDX-License-Identifier: MIT
#include "store/migrations.hpp"

#include <iterator>
#include <string>

#include "schema_sql.hpp"  // generated from store/schema.sql: kSchemaSql
#include "store/sqlite.hpp"

namespace pnsync::store {
namespace {

// Append only: a released migration is never edited or removed, because databases in the field
// have already run it (tests/fixtures/db-vN.sqlite pin each one). To change the schema, add
// {N+1, "what_it_does", R"sql(...)sql"} and a fixture db-vN.sqlite made before the change.
//
// A migration that rebuilds a table (create new, copy, drop old, rename) must not drop `mirror`
// while foreign_keys is ON: DROP TABLE then runs an implicit DELETE that cascades to every dir and
// file row. Such a migration needs foreign_keys switched off outside its transaction; add that
// option here when the first one arrives (https://www.sqlite.org/lang_altertable.html#otheralter).
constexpr Migration kMigrations[] = {
    {1, "initial", kSchemaSql},
    {2, "selection", R"sql(
      -- 0: listed upstream but outside the mirror's selection (include/exclude/files_from/
      -- select). Such files are not fetched or counted; a verified one stays on disk ("kept, not
      -- selected") unless delete_unselected is set.
      ALTER TABLE file ADD COLUMN selected INTEGER NOT NULL DEFAULT 1
        CONSTRAINT file_selected_is_boolean CHECK (selected = 0 OR selected = 1);
      -- What the selection was when the crawl state was recorded: a crawl pruned by one
      -- selection is redone when the selection changes.
      ALTER TABLE mirror ADD COLUMN selection TEXT;
    )sql"},
    {3, "segments", R"sql(
      -- A large file fetched as several byte ranges at once: "start-end:next,..." (end
      -- exclusive; next = the first byte of the range not yet written to the .part file).
      -- NULL for a file fetched in one piece, whose .part file holds a prefix of bytes_done.
      ALTER TABLE file ADD COLUMN segments TEXT;
    )sql"},
    {4, "dest_marker", R"sql(
      -- The name of the marker file pnsyncd keeps in dest's work area once a pass has started
      -- there (random, one per mirror and state). Its absence tells a destination that is not
      -- mounted, or not this mirror's, from one whose files a user deleted. NULL before the first
      -- pass of this schema.
      ALTER TABLE mirror ADD COLUMN dest_marker TEXT;
    )sql"},
};

constexpr bool versions_are_consecutive() {
  int expected = 1;
  for (const Migration& m : kMigrations) {
    if (m.version != expected++) return false;
  }
  return true;
}
static_assert(versions_are_consecutive(), "kMigrations must be numbered 1, 2, 3, ... in order");

bool has_any_schema_object(sqlite::Database& db) {
  sqlite::Statement stmt(db, "SELECT EXISTS (SELECT 1 FROM sqlite_master)");
  auto use = stmt.use();
  return use.step() && use.int64(0) != 0;
}

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

int latest_schema_version() {
  return kMigrations[std::size(kMigrations) - 1].version;
}

int schema_version(sqlite::Database& db) {
  sqlite::Statement stmt(db, "PRAGMA user_version");
  auto use = stmt.use();
  if (!use.step()) db.fail("reading PRAGMA user_version");
  return static_cast<int>(use.int64(0));
}

void migrate(sqlite::Database& db, std::span<const Migration> list) {
  const int known = list.empty() ? 0 : list.back().version;
  const int found = schema_version(db);
  if (found > known) {
    throw StoreError(db.file() + ": database written by a newer pnsync (schema " +
                     std::to_string(found) + ", this build knows " + std::to_string(known) + ")");
  }
  if (found == 0 && has_any_schema_object(db)) {
    throw StoreError(db.file() +
                     ": not a pnsync database (it has tables but no schema version); "
                     "refusing to change it");
  }
  for (const Migration& m : list) {
    if (m.version <= found) continue;
    sqlite::Transaction txn(db);
    // Another process may have applied it while we waited for the write lock.
    if (schema_version(db) >= m.version) continue;
    const std::string sql(m.sql);
    if (sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      db.fail("migration " + std::to_string(m.version) + " (" + std::string(m.name) + ")");
    }
    // PRAGMA takes no bound parameters; the version is our own integer.
    db.exec("PRAGMA user_version = " + std::to_string(m.version));
    txn.commit();
  }
}

}  // namespace pnsync::store
