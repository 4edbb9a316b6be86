/**
 * The parts of albums (photos sent together, one `media_group_id`), each recorded on arrival
 * beside its mailbox message, so the first part's turn can answer the whole album and the
 * others know they were taken. The same statement on SQLite and Postgres.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE media_group_parts (
    conversation_key TEXT NOT NULL,
    media_group_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    part TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    taken_by TEXT,
    PRIMARY KEY (conversation_key, media_group_id, message_id)
  )`
})
