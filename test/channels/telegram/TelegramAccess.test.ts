/**
 * Who the bot answers, against real SQLite and the TestClock: allowed ids, paired users, one
 * refusal per chat per hour, and pairing codes in private.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Pairing } from "../../../src/channels/telegram/Pairing.ts"
import { replyTo, type Sender, TelegramAccess } from "../../../src/channels/telegram/TelegramAccess.ts"
import { TelegramStore } from "../../../src/channels/telegram/TelegramStore.ts"
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

  it.effect("with dm_policy = pairing, groups are refused, and a fourth stranger is told to come back later", () =>
    Effect.gen(function*() {
      expect((yield* admit(inGroup(-100)))._tag).toBe("Refused")
      for (const userId of [1, 2, 3]) {
        const admission = yield* admit({ userId, chatId: userId, isGroup: false })
        expect(admission._tag === "Pairing" && admission.request._tag).toBe("Issued")
      }
      const fourth: Sender = { userId: 4, chatId: 4, isGroup: false }
      const full = yield* admit(fourth)
      expect(full._tag === "Pairing" && full.request._tag).toBe("TooManyPending")
      expect(Option.getOrThrow(replyTo(fourth, full))).toContain("too many pairing requests are waiting")
    }).pipe(withAccess({ dm_policy: "pairing", allowed_user_ids: [] })))
})
