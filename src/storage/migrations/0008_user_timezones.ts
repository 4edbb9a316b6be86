/**
 * Each owner's own time zone (`/timezone`, the `set_timezone` tool), keyed by the owner id notes
 * and jobs use. The same statement on SQLite and Postgres.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE user_timezones (
    owner_id TEXT PRIMARY KEY,
    timezone TEXT NOT NULL,
    updated_at TEXT NOT NULL
  )`
})
