/**
 * What the Telegram channel remembers across restarts: the polling offset and the registered
 * commands of each bot, the updates it answered itself, and when it last refused each chat.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Duration, Effect, Option, Schema } from "effect"
import { SqlInt } from "../../storage/Columns.ts"

const OffsetRow = Schema.Struct({ bot_id: SqlInt, next_offset: Schema.NullOr(SqlInt) })

export class TelegramStore extends Effect.Service<TelegramStore>()("minibot/TelegramStore", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /**
     * The next getUpdates offset stored for this bot. Rows of any other bot (the token was changed
     * to another bot's) are deleted: their offset means nothing here, and using it could skip
     * this bot's updates.
     */
    const offsetsOfOthers = SqlSchema.findAll({
      Request: Schema.Number,
      Result: OffsetRow,
      execute: (botId) => sql`SELECT bot_id, next_offset FROM telegram_state WHERE bot_id <> ${botId}`
    })

    const offsetOf = SqlSchema.findOne({
      Request: Schema.Number,
      Result: OffsetRow,
      execute: (botId) => sql`SELECT bot_id, next_offset FROM telegram_state WHERE bot_id = ${botId}`
    })

    const loadOffset = Effect.fn("TelegramStore.loadOffset")(function*(botId: number) {
      const others = yield* offsetsOfOthers(botId)
      for (const other of others) {
        yield* Effect.logWarning(
          `discarding the stored polling offset ${
            other.next_offset ?? "(none)"
          } of bot ${other.bot_id}: this token belongs to bot ${botId}`
        )
      }
      if (others.length > 0) yield* sql`DELETE FROM telegram_state WHERE bot_id <> ${botId}`
      const row = yield* offsetOf(botId)
      return Option.flatMap(row, (r) => Option.fromNullable(r.next_offset))
    })

    const saveOffset = (botId: number, offset: number): Effect.Effect<void, SqlError.SqlError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`
          INSERT INTO telegram_state (bot_id, next_offset, updated_at) VALUES (${botId}, ${offset}, ${now})
          ON CONFLICT (bot_id) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at
        `).pipe(Effect.asVoid)

    const hashOf = SqlSchema.findOne({
      Request: Schema.Number,
      Result: Schema.Struct({ commands_hash: Schema.NullOr(Schema.String) }),
      execute: (botId) => sql`SELECT commands_hash FROM telegram_state WHERE bot_id = ${botId}`
    })

    const commandsHash = (botId: number) =>
      Effect.map(hashOf(botId), Option.flatMap((row) => Option.fromNullable(row.commands_hash)))

    const saveCommandsHash = (botId: number, hash: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`
          INSERT INTO telegram_state (bot_id, commands_hash, updated_at) VALUES (${botId}, ${hash}, ${now})
          ON CONFLICT (bot_id) DO UPDATE SET commands_hash = excluded.commands_hash, updated_at = excluded.updated_at
        `).pipe(Effect.asVoid)

    /** Records that this update is being answered here; false when it already was. */
    const claimUpdate = (botId: number, updateId: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`
          INSERT INTO telegram_handled_updates (bot_id, update_id, handled_at) VALUES (${botId}, ${updateId}, ${now})
          ON CONFLICT (bot_id, update_id) DO NOTHING
          RETURNING update_id
        `).pipe(Effect.map((rows) => rows.length > 0))

    /** True (and the time recorded) when this chat was not refused within `interval`. */
    const refusalDue = (chatId: number, interval: Duration.Duration) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const since = now - Duration.toMillis(interval)
        const rows = yield* sql`
          INSERT INTO telegram_refusals (chat_id, refused_at) VALUES (${chatId}, ${now})
          ON CONFLICT (chat_id) DO UPDATE SET refused_at = excluded.refused_at
          WHERE telegram_refusals.refused_at <= ${since}
          RETURNING chat_id
        `
        return rows.length > 0
      })

    /** Forgets handled-update records older than `before` (epoch ms). */
    const prune = (before: number) =>
      sql`DELETE FROM telegram_handled_updates WHERE handled_at < ${before}`.pipe(Effect.asVoid)

    return { loadOffset, saveOffset, commandsHash, saveCommandsHash, claimUpdate, refusalDue, prune } as const
  })
}) {}
