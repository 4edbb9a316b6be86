/**
 * What a reply's live preview left in its chat (a Telegram placeholder message), per turn, so that
 * after a crash the turn's reply replaces it instead of leaving a half answer above the reply.
 * The same statement on SQLite and Postgres.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE turn_previews (
    conversation_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    preview TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_key, message_id)
  )`
})
