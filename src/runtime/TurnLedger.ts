/**
 * One row per answered message: the record that makes redelivery harmless. A message whose reply
 * was delivered is ignored; one whose reply was stored but not delivered (a crash in between) is
 * delivered from the stored text without asking the LLM again. The row is written with the
 * reply (in the same transaction as the history), so a turn costs two commits of ours. The later
 * parts of a merged paste are recorded `merged` in the transaction that records their turn's
 * outcome: redelivered, they are recognised as answered (with the first part's reply).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Effect, Option, Schema } from "effect"
import type { ConversationKey } from "../domain/Conversation.ts"

export const TurnStatus = Schema.Literal(
  "answered",
  "failed",
  "cancelled",
  "delivered",
  "undeliverable",
  "merged"
)
export type TurnStatus = typeof TurnStatus.Type

export const TurnRecord = Schema.Struct({ status: TurnStatus, reply: Schema.NullOr(Schema.String) })
export type TurnRecord = typeof TurnRecord.Type

export class TurnLedger extends Effect.Service<TurnLedger>()("minibot/TurnLedger", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const find = SqlSchema.findOne({
      Request: Schema.Struct({ key: Schema.String, messageId: Schema.String }),
      Result: TurnRecord,
      execute: ({ key, messageId }) =>
        sql`SELECT status, reply FROM turns WHERE conversation_key = ${key} AND message_id = ${messageId}`
    })

    /** What happened to this message before, if anything (a row that does not decode is a defect). */
    const lookup = (key: ConversationKey, messageId: string) => find({ key, messageId }).pipe(Effect.orDie)

    /** Records the outcome of the message; a null reply keeps the stored one. */
    const settle = (
      key: ConversationKey,
      messageId: string,
      status: TurnStatus,
      reply: string | null,
      error?: string
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`
          INSERT INTO turns (conversation_key, message_id, status, reply, error, created_at, updated_at)
          VALUES (${key}, ${messageId}, ${status}, ${reply}, ${error ?? null}, ${now}, ${now})
          ON CONFLICT (conversation_key, message_id) DO UPDATE SET
            status = excluded.status, reply = COALESCE(excluded.reply, turns.reply),
            error = excluded.error, updated_at = excluded.updated_at
        `).pipe(Effect.asVoid, Effect.orDie)

    const findWithPreview = SqlSchema.single({
      Request: Schema.Struct({ key: Schema.String, messageId: Schema.String }),
      Result: Schema.Struct({
        status: Schema.NullOr(TurnStatus),
        reply: Schema.NullOr(Schema.String),
        preview: Schema.NullOr(Schema.String)
      }),
      // One row whether or not either exists: a preview is remembered before its turn is settled.
      execute: ({ key, messageId }) =>
        sql`
          SELECT t.status, t.reply, p.preview FROM (SELECT 1 AS one) AS here
          LEFT JOIN turns t ON t.conversation_key = ${key} AND t.message_id = ${messageId}
          LEFT JOIN turn_previews p ON p.conversation_key = ${key} AND p.message_id = ${messageId}
        `
    })

    /**
     * `lookup`, and what this turn's live preview left in the chat before a restart (the channel's
     * reference), if anything: one query, as every turn starts with both.
     */
    const recall = (key: ConversationKey, messageId: string) =>
      findWithPreview({ key, messageId }).pipe(
        Effect.map(({ preview, reply, status }) => ({
          prior: status === null ? Option.none() : Option.some<TurnRecord>({ status, reply }),
          preview: Option.fromNullable(preview)
        })),
        Effect.orDie
      )

    /** Records what the turn's preview leaves in the chat, so that a restart can replace it. */
    const rememberPreview = (key: ConversationKey, messageId: string, preview: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`
          INSERT INTO turn_previews (conversation_key, message_id, preview, created_at)
          VALUES (${key}, ${messageId}, ${preview}, ${now})
          ON CONFLICT (conversation_key, message_id) DO UPDATE SET preview = excluded.preview
        `).pipe(Effect.asVoid, Effect.orDie)

    /** Runs `effect` in one transaction (one commit) with the ledger's writes. */
    const atomically = <A, E, R>(effect: Effect.Effect<A, E, R>) => sql.withTransaction(effect).pipe(Effect.orDie)

    /** Deletes records older than `before` (epoch ms). */
    const prune = (before: number) =>
      sql`DELETE FROM turns WHERE updated_at < ${before}`.pipe(
        Effect.zipRight(sql`DELETE FROM turn_previews WHERE created_at < ${before}`),
        Effect.asVoid,
        Effect.orDie
      )

    return { lookup, recall, settle, atomically, prune, rememberPreview } as const
  })
}) {}
