import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** An auto-increment integer primary key named `id`, in the dialect's words. */
export const autoId = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({
    pg: () => sql.literal("id BIGSERIAL PRIMARY KEY"),
    orElse: () => sql.literal("id INTEGER PRIMARY KEY AUTOINCREMENT")
  })

/**
 * `turns`: one row per inbound message of a conversation, keyed by the channel's message id:
 * the dedupe record and the delivery record (a redelivered message whose reply is stored is
 * delivered from here, never answered twice). `history`: the messages the LLM sees.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE turns (
      conversation_key TEXT NOT NULL,
      message_id TEXT NOT NULL,
      status TEXT NOT NULL,
      reply TEXT,
      error TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (conversation_key, message_id)
    )
  `
  yield* sql`CREATE INDEX turns_created_idx ON turns (created_at)`
  yield* sql`
    CREATE TABLE history (
      ${autoId(sql)},
      conversation_key TEXT NOT NULL,
      turn_id TEXT NOT NULL,
      role TEXT NOT NULL,
      content TEXT,
      tool_calls TEXT,
      tool_call_id TEXT,
      created_at BIGINT NOT NULL
    )
  `
  yield* sql`CREATE INDEX history_conversation_idx ON history (conversation_key, id)`
})
