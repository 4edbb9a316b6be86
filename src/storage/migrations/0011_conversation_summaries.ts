/**
 * A long conversation's summary (`[llm.context] max_context_tokens`): one row per conversation,
 * the model's summary of its older turns up to and including `through_turn_id`. Requests carry
 * it in place of those turns; the turns themselves stay in `history`. The same statement on
 * SQLite and Postgres.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE conversation_summaries (
    conversation_key TEXT PRIMARY KEY,
    summary TEXT NOT NULL,
    through_turn_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  )`
})
