/**
 * Who the bot answers, against real SQLite and the TestClock: allowed ids, paired users, one
 * refusal per chat per hour, and pairing codes in private.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, Option, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Pairing } from "../../../src/channels/telegram/Pairing.ts"
import { replyTo, type Sender, TelegramAccess } from "../../../src/channels/telegram/TelegramAccess.ts"
import { TelegramStore } from "../../../src/channels/telegram/TelegramStore.ts"
import { defaultTelegramTimings } from "../../../src/channels/telegram/TelegramTimings.ts"
import { makeConfig, TelegramSettings } from "../../../src/config/Config.ts"
import * as Database from "../../../src/storage/Database.ts"

/** Access as configured by `telegram` (over allowed user 42), on a fresh database. */
const withAccess = (telegram: Record<string, unknown> = {}) => {
  const settings = makeConfig({ channels: { telegram: { allowed_user_ids: [42], ...telegram } } }).channels.telegram
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minibot-access-"))
  return Effect.provide(
    Layer.mergeAll(TelegramAccess.Default, Pairing.Default, TelegramStore.Default).pipe(
      Layer.provide(Layer.succeed(TelegramSettings, settings)),
      Layer.provideMerge(Database.sqliteAt(Database.databaseFile(dir)))
    )
  )
}

/** Collects the log messages of the effect (and of the services it builds) into `logs`. */
const withLogs = (logs: Array<string>) =>
  Effect.provide(
    Logger.add(Logger.make(({ message }) => logs.push(Array.isArray(message) ? message.join(" ") : String(message))))
  )

const stranger: Sender = { userId: 77, chatId: 77, isGroup: false, userName: "newcomer" }
const inGroup = (chatId: number, userId = 77): Sender => ({ userId, chatId, isGroup: true })

const admit = (sender: Sender) => Effect.flatMap(TelegramAccess, (access) => access.admit(sender))

describe("TelegramAccess", () => {
  it.effect("answers allowed users anywhere, and anyone in an allowed chat", () =>
    Effect.gen(function*() {
      expect((yield* admit({ userId: 42, chatId: 42, isGroup: false }))._tag).toBe("Admitted")
      expect((yield* admit(inGroup(-100, 42)))._tag).toBe("Admitted")
      expect((yield* admit(inGroup(-200)))._tag).toBe("Admitted")
    }).pipe(withAccess({ allowed_chat_ids: [-200] })))

  it.effect("refuses a stranger once per chat per hour, telling them their ids", () =>
    Effect.gen(function*() {
      const first = yield* admit(stranger)
      expect(first._tag).toBe("Refused")
      expect(Option.getOrThrow(replyTo(stranger, first))).toContain("Your user id is 77 and this chat's id is 77")
      const again = yield* admit(stranger)
      expect(again._tag).toBe("Ignored")
      expect(replyTo(stranger, again)).toEqual(Option.none())
      // Another chat has its own hour.
      expect((yield* admit(inGroup(-300)))._tag).toBe("Refused")
      yield* TestClock.adjust("59 minutes")
      expect((yield* admit(stranger))._tag).toBe("Ignored")
      yield* TestClock.adjust("1 minute")
      expect((yield* admit(stranger))._tag).toBe("Refused")
    }).pipe(withAccess()))

  it.effect("with dm_policy = pairing, a stranger in private gets a code; once approved, they are answered", () =>
    Effect.gen(function*() {
      const codeOf = (sender: Sender) =>
        Effect.map(admit(sender), (admission) => {
          if (admission._tag !== "Pairing" || admission.request._tag !== "Issued") {
            throw new Error(`expected a pairing code, got ${admission._tag}`)
          }
          expect(Option.getOrThrow(replyTo(sender, admission))).toContain(
            `minibot pairing approve ${admission.request.code}`
          )
          return admission.request.code
        })
      const first = yield* codeOf(stranger)
      yield* TestClock.adjust("30 minutes")
      expect((yield* admit(stranger))._tag).toBe("Ignored")
      // An hour later the first code has expired: the next refusal brings a fresh one.
      yield* TestClock.adjust("30 minutes")
      const second = yield* codeOf(stranger)
      expect(second).not.toBe(first)
      yield* Effect.flatMap(Pairing, (pairing) => pairing.approve(second))
      expect((yield* admit(stranger))._tag).toBe("Admitted")
    }).pipe(withAccess({ dm_policy: "pairing", allowed_user_ids: [] })))

  it.effect("three strangers cannot hold every pairing slot: a newcomer takes the oldest, the operator is told", () => {
    const logs: Array<string> = []
    return Effect.gen(function*() {
      expect((yield* admit(inGroup(-100)))._tag).toBe("Refused")
      const codes = new Map<number, string>()
      for (const userId of [1, 2, 3, 4]) {
        yield* TestClock.adjust("1 second")
        const admission = yield* admit({ userId, chatId: userId, isGroup: false })
        if (admission._tag !== "Pairing" || admission.request._tag !== "Issued") throw new Error("expected a code")
        codes.set(userId, admission.request.code)
      }
      const pairing = yield* Pairing
      expect((yield* pairing.pending).map((p) => p.userId)).toEqual([2, 3, 4])
      expect(logs.some((l) => l.includes("the oldest (user 1") && l.includes("dropped for user 4"))).toBe(true)
      expect((yield* Effect.flip(pairing.approve(codes.get(1)!)))._tag).toBe("PairingCodeUnknown")

      // An hour later, the dropped stranger asks again like anyone else.
      yield* TestClock.adjust("1 hour")
      const later = yield* admit({ userId: 1, chatId: 1, isGroup: false })
      expect(later._tag === "Pairing" && later.request._tag).toBe("Issued")
    }).pipe(withAccess({ dm_policy: "pairing", allowed_user_ids: [] }), withLogs(logs))
  })

  it.effect("a stranger whose code was replaced is told to ask again later, within the hour", () =>
    Effect.gen(function*() {
      for (const userId of [1, 2, 3, 4]) {
        yield* TestClock.adjust("1 second")
        yield* admit({ userId, chatId: userId, isGroup: false })
      }
      // (Past the once-an-hour refusal of the chat, which would otherwise keep the bot silent.)
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM telegram_refusals`)
      const dropped: Sender = { userId: 1, chatId: 1, isGroup: false }
      const again = yield* admit(dropped)
      expect(again._tag === "Pairing" && again.request._tag).toBe("TryLater")
      expect(Option.getOrThrow(replyTo(dropped, again))).toContain("try again later")
      expect((yield* Effect.flatMap(Pairing, (p) => p.pending)).map((p) => p.userId)).toEqual([2, 3, 4])
    }).pipe(withAccess({ dm_policy: "pairing", allowed_user_ids: [] })))

  it.effect("refusals to strangers are capped overall, and their log lines are summarised", () => {
    const logs: Array<string> = []
    return Effect.gen(function*() {
      const tags: Array<string> = []
      for (let userId = 1000; userId < 1050; userId++) {
        tags.push((yield* admit({ userId, chatId: userId, isGroup: false }))._tag)
      }
      expect(tags.filter((t) => t === "Refused")).toHaveLength(defaultTelegramTimings.strangerReplyBurst)
      expect(tags.filter((t) => t === "Ignored")).toHaveLength(50 - defaultTelegramTimings.strangerReplyBurst)
      // The owner is still answered.
      expect((yield* admit({ userId: 42, chatId: 42, isGroup: false }))._tag).toBe("Admitted")
      expect(logs.length).toBeLessThanOrEqual(3)
      // One more refusal per interval, and a summary with the counts.
      yield* TestClock.adjust(defaultTelegramTimings.strangerReplyInterval)
      expect((yield* admit({ userId: 2000, chatId: 2000, isGroup: false }))._tag).toBe("Refused")
      yield* TestClock.adjust(defaultTelegramTimings.logSummaryInterval)
      expect(logs.some((l) => l.includes("too many strangers are writing: 40 in the last"))).toBe(true)
      expect(logs.some((l) => l.includes("refused: 11 in the last"))).toBe(true)
    }).pipe(withAccess(), withLogs(logs))
  })
})
