/**
 * `dm_policy = "pairing"`: a stranger writing to the bot in private gets a one-time code; the
 * owner approves it with `minibot pairing approve CODE`, which adds the user to a stored allowlist.
 * Codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), valid for an hour.
 *
 * At most `maxPendingCodes` wait at a time, so a flood of strangers cannot bury the owner's list,
 * and nobody can hold those slots: a newcomer who finds them full takes the oldest one (the
 * operator is told in the log), and a stranger gets at most one code per `pairingRequestInterval`
 * (asking again, even after their code expired or was replaced, does not take a slot back). An
 * expired code stays stored, unusable, until that interval has passed: it is what limits its user.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Data, Duration, Effect, Option, Schema } from "effect"
import { randomInt } from "node:crypto"
import { SqlInt } from "../../storage/Columns.ts"
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

/** What a stranger's pairing request got: their code, or nothing because they had one less than `pairingRequestInterval` ago. */
export type PairingRequest = Data.TaggedEnum<{
  Issued: { readonly code: string; readonly expiresAt: number }
  TryLater: {}
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
    /** An expired code is kept this long after it was issued: it limits its user to one code per interval. */
    const requestInterval = Duration.toMillis(timings.pairingRequestInterval)

    const dropExpired = (now: number) =>
      sql`DELETE FROM telegram_pairing_codes WHERE expires_at <= ${now} AND created_at <= ${now - requestInterval}`

    const latestOfUser = SqlSchema.findOne({
      Request: Schema.Number,
      Result: PendingPairing,
      execute: (userId) =>
        sql`SELECT * FROM telegram_pairing_codes WHERE user_id = ${userId} ORDER BY created_at DESC LIMIT 1`
    })

    const liveCode = SqlSchema.findOne({
      Request: Schema.Struct({ code: Schema.String, now: Schema.Number }),
      Result: PendingPairing,
      execute: ({ code, now }) => sql`SELECT * FROM telegram_pairing_codes WHERE code = ${code} AND expires_at > ${now}`
    })

    const pendingAt = SqlSchema.findAll({
      Request: Schema.Number,
      Result: PendingPairing,
      execute: (now) => sql`SELECT * FROM telegram_pairing_codes WHERE expires_at > ${now} ORDER BY created_at, code`
    })

    const isPaired = (userId: number): Effect.Effect<boolean, SqlError.SqlError> =>
      sql`SELECT 1 AS found FROM telegram_paired_users WHERE user_id = ${userId}`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    /** The user's pending code (a new one if none), or `TryLater` when they had one too recently. */
    const request = Effect.fn("Pairing.request")(
      function*(user: { userId: number; chatId: number; userName: string | undefined }) {
        const now = yield* Clock.currentTimeMillis
        return yield* Effect.gen(function*() {
          yield* dropExpired(now)
          const existing = yield* latestOfUser(user.userId)
          if (Option.isSome(existing)) {
            return existing.value.expiresAt > now
              ? PairingRequest.Issued({ code: existing.value.code, expiresAt: existing.value.expiresAt })
              : PairingRequest.TryLater()
          }
          const waiting = yield* pendingAt(now)
          if (waiting.length >= maxPendingCodes) {
            const oldest = waiting[0]!
            yield* sql`UPDATE telegram_pairing_codes SET expires_at = ${now} WHERE code = ${oldest.code}`
            yield* Effect.logWarning(
              `pairing: ${waiting.length} requests were pending; the oldest (user ${oldest.userId}, code ${oldest.code}) ` +
                `was dropped for user ${user.userId}. Many strangers are asking: check \`minibot pairing list\`, ` +
                `or set dm_policy = "allowlist" to stop pairing`
            )
          }
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
        const found = yield* liveCode({ code, now })
        if (Option.isNone(found)) return yield* new PairingCodeUnknown({ code })
        const row = found.value
        yield* sql`
          INSERT INTO telegram_paired_users (user_id, user_name, approved_at) VALUES (${row.userId}, ${row.userName}, ${now})
          ON CONFLICT (user_id) DO UPDATE SET user_name = excluded.user_name, approved_at = excluded.approved_at
        `
        yield* sql`DELETE FROM telegram_pairing_codes WHERE user_id = ${row.userId}`
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
