/**
 * `/api/deliveries`: the turn ledger, newest first: what happened to each message; and resending
 * a stored reply that never reached the chat.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { Outbound } from "../../channels/Outbound.ts"
import { ConversationKey } from "../../domain/Conversation.ts"
import { TurnLedger, TurnStatus } from "../../runtime/TurnLedger.ts"
import { SqlInt } from "../../storage/Columns.ts"
import { Api, Conflict, DeliveryFailed, NotFound } from "./Api.ts"
import { conversationOf } from "./ConversationsHandlers.ts"
import { pageOf, pageResult } from "./Paging.ts"

/**
 * A reply stored this recently may still be on its way (the turn stores it, then sends it):
 * resending it could send it twice.
 */
const inFlight = Duration.minutes(1)

/** A delivery's id: its conversation and message, in one URL-safe opaque string. */
const deliveryId = (conversation: string, messageId: string) =>
  Buffer.from(`${conversation}\n${messageId}`).toString("base64url")

const parseDeliveryId = (id: string): Option.Option<{ conversation: string; messageId: string }> => {
  const text = Buffer.from(id, "base64url").toString()
  const at = text.indexOf("\n")
  return at > 0 && deliveryId(text.slice(0, at), text.slice(at + 1)) === id
    ? Option.some({ conversation: text.slice(0, at), messageId: text.slice(at + 1) })
    : Option.none()
}

const TurnRow = Schema.Struct({
  conversation_key: Schema.String,
  message_id: Schema.String,
  status: TurnStatus,
  reply: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  created_at: SqlInt,
  updated_at: SqlInt
})

const toDelivery = (row: typeof TurnRow.Type) => ({
  id: deliveryId(row.conversation_key, row.message_id),
  conversationId: row.conversation_key,
  messageId: row.message_id,
  status: row.status,
  reply: row.reply,
  error: row.error,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

export const DeliveriesHandlers = HttpApiBuilder.group(Api, "deliveries", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const outbound = yield* Outbound
    const ledger = yield* TurnLedger

    const one = SqlSchema.findOne({
      Request: Schema.Struct({ conversation: Schema.String, messageId: Schema.String }),
      Result: TurnRow,
      execute: ({ conversation, messageId }) =>
        sql`
          SELECT conversation_key, message_id, status, reply, error, created_at, updated_at FROM turns
          WHERE conversation_key = ${conversation} AND message_id = ${messageId}
        `
    })

    const resend = (id: string) =>
      Effect.gen(function*() {
        const key = yield* parseDeliveryId(id)
        const found = yield* one(key).pipe(Effect.orDie)
        if (Option.isNone(found)) return yield* new NotFound({ message: `no delivery ${JSON.stringify(id)}` })
        const row = found.value
        const now = yield* Clock.currentTimeMillis
        if (row.status === "delivered") {
          return yield* new Conflict({ message: "the reply already reached the chat" })
        }
        if (row.reply === null) {
          return yield* new Conflict({ message: `there is no stored reply to send (the message is ${row.status})` })
        }
        if (row.status === "answered" && now - row.updated_at < Duration.toMillis(inFlight)) {
          return yield* new Conflict({
            message: "the reply was stored less than a minute ago: its delivery may still be under way"
          })
        }
        const conversation = yield* conversationOf(row.conversation_key).pipe(Effect.orDie)
        const receipt = yield* outbound.deliver({
          conversation,
          text: row.reply,
          kind: row.status === "failed" ? "error" : "answer"
        }).pipe(Effect.mapError((e) => new DeliveryFailed({ message: e.message })))
        yield* ledger.settle(ConversationKey.make(row.conversation_key), row.message_id, "delivered", null)
        yield* Effect.logInfo("stored reply resent by the operator").pipe(
          Effect.annotateLogs({ component: "api", conversation: row.conversation_key, message_id: row.message_id })
        )
        const updated = yield* one(key).pipe(Effect.orDie, Effect.map(Option.getOrElse(() => row)))
        return { delivery: toDelivery(updated), chunks: receipt.chunks }
      }).pipe(
        Effect.catchTag("NoSuchElementException", () => new NotFound({ message: `no delivery ${JSON.stringify(id)}` }))
      )

    const rows = SqlSchema.findAll({
      Request: Schema.Struct({
        conversation: Schema.optional(Schema.String),
        status: Schema.optional(TurnStatus),
        limit: Schema.Number,
        offset: Schema.Number
      }),
      Result: TurnRow,
      execute: ({ conversation, limit, offset, status }) =>
        sql`
          SELECT conversation_key, message_id, status, reply, error, created_at, updated_at FROM turns
          WHERE ${
          sql.and([
            ...(conversation === undefined ? [] : [sql`conversation_key = ${conversation}`]),
            ...(status === undefined ? [] : [sql`status = ${status}`])
          ])
        }
          ORDER BY updated_at DESC, message_id LIMIT ${limit} OFFSET ${offset}
        `
    })

    return handlers.handle("resend", ({ path }) => resend(path.id)).handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const page = yield* pageOf(urlParams)
        const found = yield* rows({
          ...(urlParams.conversation === undefined ? {} : { conversation: urlParams.conversation }),
          ...(urlParams.status === undefined ? {} : { status: urlParams.status }),
          limit: page.limit + 1,
          offset: page.offset
        }).pipe(Effect.orDie)
        return pageResult(found.map(toDelivery), page)
      }))
  }))
