/** `GET /api/deliveries`: the turn ledger, newest first: what happened to each message. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { TurnStatus } from "../../runtime/TurnLedger.ts"
import { SqlInt } from "../../storage/Columns.ts"
import { Api } from "./Api.ts"
import { pageOf, pageResult } from "./Paging.ts"

const TurnRow = Schema.Struct({
  conversation_key: Schema.String,
  message_id: Schema.String,
  status: TurnStatus,
  reply: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  created_at: SqlInt,
  updated_at: SqlInt
})

export const DeliveriesHandlers = HttpApiBuilder.group(Api, "deliveries", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

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

    return handlers.handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const page = yield* pageOf(urlParams)
        const found = yield* rows({
          ...(urlParams.conversation === undefined ? {} : { conversation: urlParams.conversation }),
          ...(urlParams.status === undefined ? {} : { status: urlParams.status }),
          limit: page.limit + 1,
          offset: page.offset
        }).pipe(Effect.orDie)
        return pageResult(
          found.map((row) => ({
            conversationId: row.conversation_key,
            messageId: row.message_id,
            status: row.status,
            reply: row.reply,
            error: row.error,
            createdAt: row.created_at,
            updatedAt: row.updated_at
          })),
          page
        )
      }))
  }))
