/**
 * `dm_policy = "pairing"`: a stranger writing to the bot in private gets a one-time code; the
 * owner approves it with `minibot pairing approve CODE`, which adds the user to a stored allowlist.
 * Codes are 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), valid for an hour,
 * and at most three wait at a time so a flood of strangers cannot bury the owner's list.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Clock, Data, Duration, Effect } from "effect"
import { randomInt } from "node:crypto"
import { TelegramTimings } from "./TelegramTimings.ts"

export const pairingAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
export const pairingCodeLength = 8
export const maxPendingCodes = 3

export const newPairingCode = (): string =>
  Array.from({ length: pairingCodeLength }, () => pairingAlphabet[randomInt(pairingAlphabet.length)]).join("")

/** What a person typed: case and spaces or dashes do not matter. */
export const normalizeCode = (input: string): string => input.toUpperCase().replace(/[\s-]/g, "")

export interface PendingPairing {
  readonly code: string
  readonly userId: number
  readonly chatId: number
  readonly userName: string | null
  readonly createdAt: number
  readonly expiresAt: number
}

export interface PairedUser {
  readonly userId: number
  readonly userName: string | null
  readonly approvedAt: number
}

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

interface CodeRow {
  readonly code: string
  readonly user_id: number
  readonly chat_id: number
  readonly user_name: string | null
  readonly created_at: number
  readonly expires_at: number
}

const toPending = (row: CodeRow): PendingPairing => ({
  code: row.code,
  userId: Number(row.user_id),
  chatId: Number(row.chat_id),
  userName: row.user_name,
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at)
})

export class Pairing extends Effect.Service<Pairing>()("minibot/Pairing", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const timings = yield* TelegramTimings

    const dropExpired = (now: number) => sql`DELETE FROM telegram_pairing_codes WHERE expires_at <= ${now}`

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
          const [existing] = yield* sql<CodeRow>`SELECT * FROM telegram_pairing_codes WHERE user_id = ${user.userId}`
          if (existing !== undefined) {
            return PairingRequest.Issued({ code: existing.code, expiresAt: Number(existing.expires_at) })
          }
          const [count] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM telegram_pairing_codes`
          if (Number(count?.n ?? 0) >= maxPendingCodes) return PairingRequest.TooManyPending()
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

    const pending = Effect.flatMap(
      Clock.currentTimeMillis,
      (now) =>
        sql<CodeRow>`SELECT * FROM telegram_pairing_codes WHERE expires_at > ${now} ORDER BY created_at`.pipe(
          Effect.map((rows) => rows.map(toPending))
        )
    )

    const paired = sql<{ user_id: number; user_name: string | null; approved_at: number }>`
      SELECT * FROM telegram_paired_users ORDER BY approved_at
    `.pipe(
      Effect.map((rows) =>
        rows.map((r): PairedUser => ({
          userId: Number(r.user_id),
          userName: r.user_name,
          approvedAt: Number(r.approved_at)
        }))
      )
    )

    /** Adds the user of a valid code to the allowlist and consumes the code. */
    const approve = Effect.fn("Pairing.approve")(function*(input: string) {
      const code = normalizeCode(input)
      const now = yield* Clock.currentTimeMillis
      return yield* Effect.gen(function*() {
        yield* dropExpired(now)
        const [row] = yield* sql<CodeRow>`SELECT * FROM telegram_pairing_codes WHERE code = ${code}`
        if (row === undefined) return yield* new PairingCodeUnknown({ code })
        yield* sql`
          INSERT INTO telegram_paired_users (user_id, user_name, approved_at) VALUES (${row.user_id}, ${row.user_name}, ${now})
          ON CONFLICT (user_id) DO UPDATE SET user_name = excluded.user_name, approved_at = excluded.approved_at
        `
        yield* sql`DELETE FROM telegram_pairing_codes WHERE code = ${code}`
        return toPending(row)
      }).pipe(sql.withTransaction)
    })

    /** Removes an approved user; false when there was none. */
    const revoke = (userId: number) =>
      sql<{ user_id: number }>`DELETE FROM telegram_paired_users WHERE user_id = ${userId} RETURNING user_id`.pipe(
        Effect.map((rows) => rows.length > 0)
      )

    return { isPaired, request, pending, paired, approve, revoke } as const
  })
}) {}
