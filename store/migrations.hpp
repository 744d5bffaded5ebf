// SPDX-License-Identifier: MIT
// The schema history: an append-only list of numbered migrations. The database records the last
// one applied in PRAGMA user_version (0 for a new file), updated in the same transaction as the
// migration itself, so a crash leaves either the old version or the new one, never a mix.
#pragma once

#include <span>
#include <string_view>

namespace pnsync::store {

namespace sqlite {
class Database;
}

struct Migration {
  int version;            // 1, 2, 3, ... in order, with no gaps; user_version once applied
  std::string_view name;  // for messages: "migration 2 (add_etag)"
  std::string_view sql;   // one or more statements; no BEGIN/COMMIT (migrate() wraps them)
};

// Every migration this build knows, oldest first.
std::span<const Migration> migrations();
int latest_schema_version();

// PRAGMA user_version.
int schema_version(sqlite::Database& db);

// Applies the migrations of `list` that `db` lacks, each in its own IMMEDIATE transaction. Throws
// StoreError if the database is newer than `list` ("database written by a newer pnsync"), if it
// is someone else's database (tables but user_version 0), or if a migration fails (that one is
// rolled back; earlier ones stay). Tests pass their own `list`.
void migrate(sqlite::Database& db, std::span<const Migration> list = migrations());

}  // namespace pnsync::store
