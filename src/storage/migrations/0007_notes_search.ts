/**
 * Full-text search of notes on Postgres: a `search` column the database keeps in step with title
 * and data (a stored generated column, so no trigger can be forgotten), titles weighted above
 * data, and a GIN index over it. The `simple` configuration lower-cases words without stemming or
 * stop words, as SQLite's FTS5 `unicode61` tokenizer does, so a query means the same on both.
 * SQLite already has its FTS5 table (0003): nothing to do there.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.zipRight(
        sql`ALTER TABLE notes ADD COLUMN search tsvector GENERATED ALWAYS AS (
          setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', data), 'B')
        ) STORED`,
        sql`CREATE INDEX notes_search ON notes USING GIN (search)`
      ),
    orElse: () => Effect.void
  })
})
