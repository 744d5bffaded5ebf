-- SPDX-License-Identifier: MIT
-- pnsync state database, schema version 1 (migration 1, "initial", in store/migrations.cpp).
--
-- FROZEN once released: databases in the field were created from this exact text, and
-- tests/fixtures/db-v1.sqlite is a copy of one. Change the schema by appending a migration to
-- kMigrations, never by editing this file (the fixture test would catch a fresh database and an
-- upgraded one drifting apart).
--
-- Conventions: times are seconds since the Unix epoch (INTEGER); paths are relative to the
-- mirror's version root, '/' separated, never starting with '/'; enum-like columns are TEXT with
-- a CHECK, so a look at the file with the sqlite3 shell needs no decoder and a bug that writes a
-- bad value fails loudly instead of corrupting state. Constraints are named so that SQLite's
-- "CHECK constraint failed: <name>" says which rule was broken.

-- One row per mirrored dataset version ("mitdb/1.0.0").
CREATE TABLE mirror (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,    -- "project/version", the stable key
  dest TEXT NOT NULL,           -- local destination directory; may change between runs
  crawl_completed_at INTEGER    -- when the last full crawl finished; NULL before the first one
);

-- Directories of the remote tree, so that an interrupted crawl resumes where it stopped.
CREATE TABLE dir (
  mirror_id INTEGER NOT NULL REFERENCES mirror (id) ON DELETE CASCADE,
  path TEXT NOT NULL,           -- "" for the version root, else ends in '/'
  listed_at INTEGER,            -- when its listing was recorded; NULL = still to list (pending)
  PRIMARY KEY (mirror_id, path),
  CONSTRAINT dir_path_is_root_or_ends_in_slash CHECK (path = '' OR substr(path, -1) = '/')
) WITHOUT ROWID;

-- Every file known upstream and how far it got locally.
--   state:  pending  -> not downloaded yet, or to be fetched again
--           partial  -> bytes_done bytes are in the .part file, resumable
--           verified -> published and checked; verified_by says how
--           failed   -> gave up after too many attempts; last_error says why
CREATE TABLE file (
  id INTEGER PRIMARY KEY,
  mirror_id INTEGER NOT NULL REFERENCES mirror (id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  size INTEGER,                 -- bytes; NULL while no listing or download has told us
  expected_sha256 TEXT,         -- lowercase hex from the upstream manifest; NULL if not listed
  actual_sha256 TEXT,           -- lowercase hex of the bytes we wrote; NULL unless verified
  state TEXT NOT NULL DEFAULT 'pending',
  bytes_done INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,             -- failed attempts since the last requeue
  checksum_mismatches INTEGER NOT NULL DEFAULT 0,  -- of those, how many had the wrong bytes
  last_error TEXT,              -- for the user; NULL when the last attempt did not fail
  verified_by TEXT NOT NULL DEFAULT 'none',
  mtime INTEGER,                -- upstream modification time, when the listing gives it
  UNIQUE (mirror_id, path),
  CONSTRAINT file_path_is_a_file CHECK (path <> '' AND substr(path, -1) <> '/'),
  -- OR chains rather than IN lists: SQLite builds a temporary b-tree for each IN list of three
  -- or more values on every INSERT, which made loading 600,000 files several times slower.
  CONSTRAINT file_state_known CHECK (
    state = 'pending' OR state = 'partial' OR state = 'verified' OR state = 'failed'),
  CONSTRAINT file_verified_by_known CHECK (
    verified_by = 'none' OR verified_by = 'sha256-manifest' OR verified_by = 'size'),
  CONSTRAINT file_sizes_not_negative CHECK (size >= 0 AND bytes_done >= 0),
  -- A verified file says how, and only a verified file does.
  CONSTRAINT file_verified_has_kind CHECK ((state = 'verified') = (verified_by <> 'none')),
  -- "sha256-manifest" is a promise: the bytes we wrote hash to what the manifest lists.
  CONSTRAINT file_checksum_claim_holds CHECK (
    verified_by <> 'sha256-manifest'
    OR (expected_sha256 IS NOT NULL AND actual_sha256 IS expected_sha256))
);

-- The work queues: the files of one mirror in one state, already in path order, so that
-- failed_files() on a 600,000-file mirror reads its few rows instead of scanning them all (and
-- verified_files() needs no sort). Also serves counts(). Costs about 15% more disk than
-- (mirror_id, state) alone.
CREATE INDEX file_by_state ON file (mirror_id, state, path);
