/**
 * `/api/conversations`: the chats the daemon has talked in (from the history and the turn
 * ledger), their stored history, and what an operator may do in one: write as its user (a turn,
 * stored in the actor's mailbox like any inbound message, so it is answered exactly once), write
 * as the bot (sent as is, no turn), stop the running turn, forget the history.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Effect, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { Outbound } from "../../channels/Outbound.ts"
import { ChannelName, type ConversationRef, keyOf } from "../../domain/Conversation.ts"
import { InboundMessage } from "../../domain/Inbound.ts"
import { ContextBudget } from "../../memory/ContextBudget.ts"
import { HistoryStore } from "../../memory/HistoryStore.ts"
import { Actors } from "../../runtime/Actors.ts"
import { SqlInt } from "../../storage/Columns.ts"
import { Api, DeliveryFailed, InvalidRequest } from "./Api.ts"
import { pageOf, pageResult } from "./Paging.ts"

/** `telegram:42` → the conversation; the id names the field when it is not one. */
export const conversationOf = (id: string): Effect.Effect<ConversationRef, InvalidRequest> => {
  const at = id.indexOf(":")
  const channel = id.slice(0, at)
  const chatId = id.slice(at + 1)
  return at > 0 && chatId !== "" && Schema.is(ChannelName)(channel)
    ? Effect.succeed({ channel, chatId })
    : Effect.fail(
      new InvalidRequest({
        field: "id",
        message: `expected <channel>:<chat id> (e.g. telegram:42), got ${JSON.stringify(id)}`
      })
    )
}

/** Who writes in a conversation: a private chat's id is its user's id (Telegram); a group's is negative. */
export const userOf = (conversation: ConversationRef): { readonly userId?: string; readonly isGroup: boolean } => {
  const isGroup = conversation.chatId.startsWith("-")
  return conversation.channel === "telegram" && !isGroup ? { userId: conversation.chatId, isGroup } : { isGroup }
}

const SummaryRow = Schema.Struct({ conversation_key: Schema.String, last_activity: SqlInt, messages: SqlInt })
const MessageRow = Schema.Struct({
  id: SqlInt,
  turn_id: Schema.String,
  role: Schema.String,
  content: Schema.NullOr(Schema.String),
  created_at: SqlInt
})

export const ConversationsHandlers = HttpApiBuilder.group(Api, "conversations", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const actors = yield* Actors
    const outbound = yield* Outbound
    const history = yield* HistoryStore
    const budget = yield* ContextBudget

    const summaries = SqlSchema.findAll({
      Request: Schema.Struct({ limit: Schema.Number, offset: Schema.Number }),
      Result: SummaryRow,
      execute: ({ limit, offset }) =>
        sql`
          SELECT conversation_key, MAX(t) AS last_activity, SUM(n) AS messages FROM (
            SELECT conversation_key, MAX(created_at) AS t, COUNT(*) AS n FROM history GROUP BY conversation_key
            UNION ALL
            SELECT conversation_key, MAX(updated_at) AS t, 0 AS n FROM turns GROUP BY conversation_key
          ) AS activity
          GROUP BY conversation_key ORDER BY last_activity DESC, conversation_key
          LIMIT ${limit} OFFSET ${offset}
        `
    })

    const messages = SqlSchema.findAll({
      Request: Schema.Struct({ key: Schema.String, limit: Schema.Number, offset: Schema.Number }),
      Result: MessageRow,
      execute: ({ key, limit, offset }) =>
        sql`
          SELECT id, turn_id, role, content, created_at FROM history WHERE conversation_key = ${key}
          ORDER BY id LIMIT ${limit} OFFSET ${offset}
        `
    })

    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function*() {
          const page = yield* pageOf(urlParams)
          const rows = yield* summaries({ limit: page.limit + 1, offset: page.offset }).pipe(Effect.orDie)
          return pageResult(
            rows.map((row) => {
              const at = row.conversation_key.indexOf(":")
              return {
                id: row.conversation_key,
                channel: Schema.decodeUnknownSync(ChannelName)(row.conversation_key.slice(0, at)),
                chatId: row.conversation_key.slice(at + 1),
                lastActivityAt: row.last_activity,
                messageCount: row.messages
              }
            }),
            page
          )
        }))
      .handle("messages", ({ path, urlParams }) =>
        Effect.gen(function*() {
          const key = keyOf(yield* conversationOf(path.id))
          const page = yield* pageOf(urlParams)
          const rows = yield* messages({ key, limit: page.limit + 1, offset: page.offset }).pipe(Effect.orDie)
          return pageResult(
            rows.map((row) => ({
              id: row.id,
              turnId: row.turn_id,
              role: row.role,
              content: row.content,
              createdAt: row.created_at
            })),
            page
          )
        }))
      .handle("inject", ({ path, payload }) =>
        Effect.gen(function*() {
          const conversation = yield* conversationOf(path.id)
          const conversationId = keyOf(conversation)
          if (payload.as === "bot") {
            const receipt = yield* outbound.deliver({ conversation, text: payload.text, kind: "notice" }).pipe(
              Effect.mapError((e) => new DeliveryFailed({ message: e.message }))
            )
            yield* Effect.logInfo("operator message sent as the bot")
            return { conversationId, messageId: null, chunks: receipt.chunks }
          }
          const messageId = `api-${randomUUID()}`
          yield* actors.submit(
            new InboundMessage({
              messageId,
              conversation,
              ...userOf(conversation),
              text: payload.text,
              receivedAt: yield* Clock.currentTimeMillis,
              requestId: messageId.slice(0, 12)
            })
          ).pipe(Effect.mapError((e) => new DeliveryFailed({ message: e.message })))
          yield* Effect.logInfo("operator message stored for its conversation").pipe(
            Effect.annotateLogs({ message_id: messageId })
          )
          return { conversationId, messageId, chunks: null }
        }).pipe(Effect.annotateLogs({ component: "api", conversation: path.id })))
      .handle("stop", ({ path }) =>
        Effect.map(
          Effect.flatMap(conversationOf(path.id), (c) => actors.stop(keyOf(c))),
          (stopped) => ({ stopped })
        ))
      .handle("reset", ({ path }) =>
        Effect.map(
          Effect.flatMap(
            conversationOf(path.id),
            (c) => Effect.zipLeft(history.clear(keyOf(c)), budget.clear(keyOf(c)))
          ),
          (removedMessages) => ({ removedMessages })
        ))
  }))
