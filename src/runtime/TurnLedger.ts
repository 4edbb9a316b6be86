/**
 * One row per inbound message: the record that makes redelivery harmless. A message whose reply
 * was delivered is ignored; one whose reply was stored but not delivered (a crash in between) is
 * delivered from the stored text without asking the LLM again.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"
import type { ConversationKey } from "../domain/Conversation.ts"

export type TurnStatus = "received" | "answered" | "failed" | "cancelled" | "delivered" | "undeliverable"

export interface TurnRecord {
  readonly status: TurnStatus
  readonly reply: string | null
}

export class TurnLedger extends Effect.Service<TurnLedger>()("minibot/TurnLedger", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Records the message if new; returns its record either way. */
    const begin = Effect.fn("TurnLedger.begin")(function*(key: ConversationKey, messageId: string) {
      const now = yield* Clock.currentTimeMillis
      yield* sql`
        INSERT INTO turns (conversation_key, message_id, status, created_at, updated_at)
        VALUES (${key}, ${messageId}, 'received', ${now}, ${now})
        ON CONFLICT (conversation_key, message_id) DO NOTHING
      `
      const [row] = yield* sql<TurnRecord>`
        SELECT status, reply FROM turns WHERE conversation_key = ${key} AND message_id = ${messageId}
      `
      return row ?? { status: "received", reply: null }
    }, Effect.orDie)

    const settle = (key: ConversationKey, messageId: string, status: TurnStatus, reply: string | null, error?: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`
          UPDATE turns SET status = ${status}, reply = COALESCE(${reply}, reply), error = ${error ?? null},
                 updated_at = ${now}
          WHERE conversation_key = ${key} AND message_id = ${messageId}
        `).pipe(Effect.asVoid, Effect.orDie)

    /** Deletes settled records older than `before` (epoch ms). */
    const prune = (before: number) =>
      sql`DELETE FROM turns WHERE created_at < ${before} AND status <> 'received'`.pipe(Effect.asVoid, Effect.orDie)

    return { begin, settle, prune } as const
  })
}) {}
