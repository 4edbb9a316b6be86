/**
 * `dm_policy = "pairing"`: a stranger writing to the bot in private gets a one-time code; the
 * owner approves it with `minibot pairing approve CODE`, which adds the user to a stored allowlist.
 * Codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), valid for an hour,
 * and at most three wait at a time so a flood of strangers cannot bury the owner's list.
 */
import { SqlClient, type SqlError, SqlSchema } from "@effect/sql"
import { Clock, Data, Duration, Effect, Option, Schema } from "effect"
import { randomInt } from "node:crypto"
import { CountRow, SqlInt } from "../../storage/Columns.ts"
import { TelegramTimings } from "./TelegramTimings.ts"

export const pairingAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
export const pairingCodeLength = 8
export const maxPendingCodes = 3

export const newPairingCode = (): string =>
  Array.from({ length: pairingCodeLength }, () => pairingAlphabet[randomInt(pairingAlphabet.length)]).join("")

/** What a person typed: case and spaces or dashes do not matter. */
export const normalizeCode = (input: string): string => input.toUpperCase().replace(/[\s-]/g, "")

/** A column renamed from snake_case. */
const column = <A, I>(schema: Schema.Schema<A, I>, key: string) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(key))

/** A `telegram_pairing_codes` row. */
export const PendingPairing = Schema.Struct({
  code: Schema.String,
  userId: column(SqlInt, "user_id"),
  chatId: column(SqlInt, "chat_id"),
  userName: column(Schema.NullOr(Schema.String), "user_name"),
  createdAt: column(SqlInt, "created_at"),
  expiresAt: column(SqlInt, "expires_at")
})
export type PendingPairing = typeof PendingPairing.Type

/** A `telegram_paired_users` row. */
export const PairedUser = Schema.Struct({
  userId: column(SqlInt, "user_id"),
  userName: column(Schema.NullOr(Schema.String), "user_name"),
  approvedAt: column(SqlInt, "approved_at")
})
export type PairedUser = typeof PairedUser.Type

/** What a stranger's pairing request got: their code, or nothing because too many are waiting. */
export type PairingRequest = Data.TaggedEnum<{
  Issued: { readonly code: string; readonly expiresAt: number }
  TooManyPending: {}
}>
export const PairingRequest = Data.taggedEnum<PairingRequest>()

export class PairingCodeUnknown extends Data.TaggedError("PairingCodeUnknown")<{ readonly code: string }> {
  override get message() {
    return `no pending pairing request has the code ${this.code} (codes expire after an hour; \`minibot pairing list\` shows the pending ones)`
  }
}

export class Pairing extends Effect.Service<Pairing>()("minibot/Pairing", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const timings = yield* TelegramTimings

    const dropExpired = (now: number) => sql`DELETE FROM telegram_pairing_codes WHERE expires_at <= ${now}`

    const codeOfUser = SqlSchema.findOne({
      Request: Schema.Number,
      Result: PendingPairing,
      execute: (userId) => sql`SELECT * FROM telegram_pairing_codes WHERE user_id = ${userId}`
    })

    const codeRow = SqlSchema.findOne({
      Request: Schema.String,
      Result: PendingPairing,
      execute: (code) => sql`SELECT * FROM telegram_pairing_codes WHERE code = ${code}`
    })

    const pendingCount = SqlSchema.single({
      Request: Schema.Void,
      Result: CountRow,
      execute: () => sql`SELECT COUNT(*) AS n FROM telegram_pairing_codes`
    })

    const isPaired = (userId: number): Effect.Effect<boolean, SqlError.SqlError> =>
      sql`SELECT 1 AS found FROM telegram_paired_users WHERE user_id = ${userId}`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    /** The user's pending code (a new one if none), or `TooManyPending`. */
    const request = Effect.fn("Pairing.request")(
      function*(user: { userId: number; chatId: number; userName: string | undefined }) {
        const now = yield* Clock.currentTimeMillis
        return yield* Effect.gen(function*() {
          yield* dropExpired(now)
          const existing = yield* codeOfUser(user.userId)
          if (Option.isSome(existing)) {
            return PairingRequest.Issued({ code: existing.value.code, expiresAt: existing.value.expiresAt })
          }
          // COUNT(*) always returns a row.
          const { n } = yield* pendingCount(undefined).pipe(Effect.catchTag("NoSuchElementException", Effect.die))
          if (n >= maxPendingCodes) return PairingRequest.TooManyPending()
          const code = newPairingCode()
          const expiresAt = now + Duration.toMillis(timings.pairingCodeLifetime)
          yield* sql`
          INSERT INTO telegram_pairing_codes (code, user_id, chat_id, user_name, created_at, expires_at)
          VALUES (${code}, ${user.userId}, ${user.chatId}, ${user.userName ?? null}, ${now}, ${expiresAt})
        `
          return PairingRequest.Issued({ code, expiresAt })
        }).pipe(sql.withTransaction)
      }
    )

    const pendingAt = SqlSchema.findAll({
      Request: Schema.Number,
      Result: PendingPairing,
      execute: (now) => sql`SELECT * FROM telegram_pairing_codes WHERE expires_at > ${now} ORDER BY created_at`
    })

    const pending = Effect.flatMap(Clock.currentTimeMillis, pendingAt)

    const paired = SqlSchema.findAll({
      Request: Schema.Void,
      Result: PairedUser,
      execute: () => sql`SELECT * FROM telegram_paired_users ORDER BY approved_at`
    })(undefined)

    /** Adds the user of a valid code to the allowlist and consumes the code. */
    const approve = Effect.fn("Pairing.approve")(function*(input: string) {
      const code = normalizeCode(input)
      const now = yield* Clock.currentTimeMillis
      return yield* Effect.gen(function*() {
        yield* dropExpired(now)
        const found = yield* codeRow(code)
        if (Option.isNone(found)) return yield* new PairingCodeUnknown({ code })
        const row = found.value
        yield* sql`
          INSERT INTO telegram_paired_users (user_id, user_name, approved_at) VALUES (${row.userId}, ${row.userName}, ${now})
          ON CONFLICT (user_id) DO UPDATE SET user_name = excluded.user_name, approved_at = excluded.approved_at
        `
        yield* sql`DELETE FROM telegram_pairing_codes WHERE code = ${code}`
        return row
      }).pipe(sql.withTransaction)
    })

    /** Removes an approved user; false when there was none. */
    const revoke = (userId: number) =>
      sql`DELETE FROM telegram_paired_users WHERE user_id = ${userId} RETURNING user_id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    return { isPaired, request, pending, paired, approve, revoke } as const
  })
}) {}
