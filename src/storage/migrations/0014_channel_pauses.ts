/**
 * The channels an operator paused (`POST /api/channels/{name}/pause`), so that a paused channel
 * stays paused across a restart until it is resumed. The same statement on SQLite and Postgres.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE channel_pauses (
    channel TEXT PRIMARY KEY,
    paused_at BIGINT NOT NULL
  )`
})
