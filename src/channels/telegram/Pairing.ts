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

/** Terminal escape sequences: CSI (`ESC [ ... final`), OSC/DCS/APC/PM/SOS strings up to BEL or ST, and two-byte escapes. */
const escapeSequences =
  /\x1b\[[0-?]*[ -/]*[@-~]|[\x1b\x9d\x90\x9e\x9f\x98][\]P^_X][\s\S]*?(?:\x07|\x1b\\|\x9c|$)|\x1b[\s\S]?/g
/** Control characters (C0, DEL, C1), bidi overrides and line separators: they rewrite what a terminal shows. */
const controls = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
/** Telegram names are at most 64 characters; anything longer was not typed by Telegram's rules. */
const maxNameLength = 64

/**
 * A name a stranger chose (their Telegram name), safe to print on the operator's terminal: no
 * escape sequences (colours, cursor moves, clipboard writes), no control characters (a newline
 * would forge a row of `minibot pairing list`), at most 64 characters.
 */
export const printableName = (name: string): string => {
  const clean = name.replace(escapeSequences, "").replace(controls, "").trim()
  return clean.length > maxNameLength ? `${clean.slice(0, maxNameLength)}…` : clean
}

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

    const requestInterval = Duration.toMillis(timings.pairingRequestInterval)
    /** Expired codes are kept for their user's request interval (see the header), then dropped. */
    const dropExpired = (now: number) =>
      sql`DELETE FROM telegram_pairing_codes WHERE expires_at <= ${now} AND created_at <= ${now - requestInterval}`

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
          const [existing] = yield* sql<CodeRow>`
            SELECT * FROM telegram_pairing_codes WHERE user_id = ${user.userId} ORDER BY created_at DESC LIMIT 1
          `
          if (existing !== undefined) {
            return Number(existing.expires_at) > now
              ? PairingRequest.Issued({ code: existing.code, expiresAt: Number(existing.expires_at) })
              : PairingRequest.TryLater()
          }
          const waiting = yield* sql<CodeRow>`
            SELECT * FROM telegram_pairing_codes WHERE expires_at > ${now} ORDER BY created_at, code
          `
          if (waiting.length >= maxPendingCodes) {
            const oldest = waiting[0]!
            yield* sql`UPDATE telegram_pairing_codes SET expires_at = ${now} WHERE code = ${oldest.code}`
            yield* Effect.logWarning(
              `pairing: ${waiting.length} requests were pending; the oldest (user ${oldest.user_id}, code ${oldest.code}) ` +
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
        const [row] = yield* sql<CodeRow>`
          SELECT * FROM telegram_pairing_codes WHERE code = ${code} AND expires_at > ${now}
        `
        if (row === undefined) return yield* new PairingCodeUnknown({ code })
        yield* sql`
          INSERT INTO telegram_paired_users (user_id, user_name, approved_at) VALUES (${row.user_id}, ${row.user_name}, ${now})
          ON CONFLICT (user_id) DO UPDATE SET user_name = excluded.user_name, approved_at = excluded.approved_at
        `
        yield* sql`DELETE FROM telegram_pairing_codes WHERE user_id = ${row.user_id}`
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
