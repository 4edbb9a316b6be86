/**
 * Notes (`memory_*` tools): one row per (owner, case-folded title), and on SQLite an FTS5 index
 * over title and data kept in sync by triggers. On Postgres the table alone here; its full-text
 * index comes with 0007.
 * Times are ISO-8601 UTC text with milliseconds, so they compare correctly as strings.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { autoId } from "./0001_core.ts"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE notes (
    ${autoId(sql)},
    owner_id TEXT NOT NULL,
    title TEXT NOT NULL,
    title_key TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    expires_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (owner_id, title_key)
  )`
  yield* sql`CREATE INDEX notes_expires_at ON notes (expires_at) WHERE expires_at IS NOT NULL`
  if (sql.onDialectOrElse({ pg: () => true, orElse: () => false })) return
  yield* sql`CREATE VIRTUAL TABLE notes_fts USING fts5(
    title, data,
    content = 'notes', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
  )`
  yield* sql`CREATE TRIGGER notes_fts_insert AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts (rowid, title, data) VALUES (new.id, new.title, new.data);
  END`
  yield* sql`CREATE TRIGGER notes_fts_delete AFTER DELETE ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, data) VALUES ('delete', old.id, old.title, old.data);
  END`
  yield* sql`CREATE TRIGGER notes_fts_update AFTER UPDATE OF title, data ON notes BEGIN
    INSERT INTO notes_fts (notes_fts, rowid, title, data) VALUES ('delete', old.id, old.title, old.data);
    INSERT INTO notes_fts (rowid, title, data) VALUES (new.id, new.title, new.data);
  END`
})
