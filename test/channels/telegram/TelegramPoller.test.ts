import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { Readiness } from "../../../src/control/Readiness.ts"
import * as Database from "../../../src/storage/Database.ts"
import { FakeLlm } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"
import { eventually } from "../../support/Wait.ts"
import { startDaemon, texts, waitForText, withDaemon } from "./harness.ts"

describe("Telegram long polling", () => {
  it.live("updates sent while the daemon was stopped are answered after start, and old ones are not answered again", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const dataDir = tempDir()
      const first = fake.pushText({ chatId: 42, userId: 42, text: "one" })
      yield* withDaemon(fake, llm, { dataDir }, () => waitForText(fake, "echo: one"))

      fake.pushText({ chatId: 42, userId: 42, text: "two" })
      fake.pushText({ chatId: 42, userId: 42, text: "three" })
      const callsBefore = fake.callsOf("getUpdates").length
      yield* withDaemon(fake, llm, { dataDir }, () =>
        Effect.gen(function*() {
          yield* fake.waitForSentEffect(3, 8_000)
          // "one" answered again would come before this.
          fake.pushText({ chatId: 42, userId: 42, text: "four" })
          yield* waitForText(fake, "echo: four")
        }))
      expect(texts(fake.sent)).toEqual(["echo: one", "echo: two", "echo: three", "echo: four"])
      // The second run resumed from the stored offset.
      expect(fake.callsOf("getUpdates")[callsBefore]!.params.offset).toBe(first.update_id + 1)
      expect(llm.completions()).toHaveLength(4)
    }).pipe(Effect.scoped))

  it.live("an offset stored for another bot is discarded", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const dataDir = tempDir()
      // Another bot's far-ahead offset: used here, it would skip this bot's updates.
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO telegram_state (bot_id, next_offset, updated_at) VALUES (${999}, ${5_000_000}, ${0})`
      }).pipe(Effect.provide(Database.sqliteAt(Database.databaseFile(dataDir))), Effect.scoped)
      fake.pushText({ chatId: 42, userId: 42, text: "hello new bot" })
      yield* withDaemon(fake, llm, { dataDir }, (h) =>
        Effect.gen(function*() {
          yield* waitForText(fake, "echo: hello new bot")
          expect(h.logs.some((l) => l.includes("discarding the stored polling offset 5000000 of bot 999"))).toBe(true)
          const rows = yield* h.sql<{ bot_id: number }>`SELECT bot_id FROM telegram_state`
          expect(rows.map((r) => Number(r.bot_id))).toEqual([fake.botInfo.id])
        }))
      expect(fake.callsOf("getUpdates")[0]!.params.offset).toBeUndefined()
    }).pipe(Effect.scoped))

  it.live("setMyCommands is called on the first start, not again when the commands are unchanged", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const dataDir = tempDir()
      // The menu is registered beside polling, not before it: wait for both (and the menu stored).
      yield* withDaemon(fake, llm, { dataDir }, (h) =>
        Effect.zipRight(
          fake.waitForEffect((f) => f.callsOf("getUpdates").length > 0),
          eventually(() => h.logs.some((l) => l.includes("command menu registered")), "the command menu", 15_000)
        ))
      expect(fake.callsOf("setMyCommands")).toHaveLength(1)
      expect(fake.commands.get("default")?.map((c) => c.command)).toEqual([
        "start",
        "help",
        "reset",
        "status",
        "stop",
        "tasks",
        "timezone"
      ])
      const polls = fake.callsOf("getUpdates").length
      yield* withDaemon(fake, llm, { dataDir }, () => fake.waitForEffect((f) => f.callsOf("getUpdates").length > polls))
      expect(fake.callsOf("setMyCommands")).toHaveLength(1)
      expect(fake.callsOf("getMe")).toHaveLength(2)
    }).pipe(Effect.scoped))

  it.scopedLive("deletes a webhook first (keeping pending updates), then polls", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* Effect.promise(() =>
        fetch(`${fake.url}/bot${fake.token}/setWebhook`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ url: "https://old.example.com/hook" })
        })
      )
      fake.pushText({ chatId: 42, userId: 42, text: "sent while a webhook was set" })
      yield* startDaemon(fake, llm)
      yield* waitForText(fake, "echo: sent while a webhook was set")
      const deleted = fake.callsOf("deleteWebhook")
      expect(deleted).toHaveLength(1)
      expect(deleted[0]!.params.drop_pending_updates).not.toBe(true)
      expect(fake.webhook).toBeUndefined()
    }))

  it.scopedLive("a hanging getUpdates is abandoned after the poll timeout and polling goes on", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      fake.hangNext("getUpdates")
      const h = yield* startDaemon(fake, llm, { telegram: { poll_timeout_seconds: 1 } })
      fake.pushText({ chatId: 42, userId: 42, text: "anyone?" })
      yield* waitForText(fake, "echo: anyone?", 6_000)
      expect(h.logs.some((l) => l.includes("getUpdates failed") && l.includes("no answer within"))).toBe(true)
    }))

  it.scopedLive("no progress at all for the stall limit restarts polling", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      fake.hangNext("getUpdates")
      // The client-side timeout is longer than the stall limit here, so the watchdog acts first.
      const h = yield* startDaemon(fake, llm, {
        telegram: { poll_timeout_seconds: 10 },
        timings: { stallLimit: Duration.seconds(1) }
      })
      fake.pushText({ chatId: 42, userId: 42, text: "wake up" })
      yield* waitForText(fake, "echo: wake up", 6_000)
      expect(h.logs.some((l) => l.includes("restarting polling"))).toBe(true)
    }))

  it.scopedLive("409 conflicts and network errors back off and recover", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      fake.failNext("getUpdates", { status: 409, times: 2 })
      fake.failNext("getUpdates", { status: 502, rawBody: "<html>bad gateway</html>" })
      const h = yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "hello" })
      yield* waitForText(fake, "echo: hello", 6_000)
      expect(h.logs.some((l) => l.includes("getUpdates conflict"))).toBe(true)
      const statuses = fake.callsOf("getUpdates").map((c) => c.status)
      expect(statuses.slice(0, 3)).toEqual([409, 409, 502])
    }))

  it.scopedLive("a rejected token stops the channel with one clear log line, and never leaks the token", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const wrong = "987654321:AAwrong-token-wrong-token-wrong-token1"
      const h = yield* startDaemon(fake, llm, { telegram: { bot_token: wrong } })
      yield* fake.waitForEffect((f) => f.callsOf("getMe").length > 0)
      yield* eventually(() => h.logs.some((l) => l.includes("Telegram rejected the bot token")), "the rejection")
      const rejected = h.logs.filter((l) => l.includes("Telegram rejected the bot token"))
      expect(rejected).toHaveLength(1)
      expect(rejected[0]).toContain("level=ERROR")
      expect(fake.callsOf("getMe")).toHaveLength(1)
      expect(fake.callsOf("getUpdates")).toHaveLength(0)
      const readiness = yield* h.use(Effect.flatMap(Readiness, (r) => r.snapshot))
      expect(readiness.telegram).toBe(false)
      expect(h.logs.join("\n")).not.toContain(wrong)
      expect(h.logs.join("\n")).not.toContain("AAwrong")
    }))

  it.scopedLive("logs of an update carry component, update_id, chat_id and user_id; the token never appears", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm)
      const update = fake.pushText({ chatId: 42, userId: 42, text: "/help" })
      yield* waitForText(fake, /\/reset/)
      const line = h.logs.find((l) => l.includes("command /help"))!
      expect(line).toContain("component=telegram")
      expect(line).toContain(`update_id=${update.update_id}`)
      expect(line).toContain("chat_id=42")
      expect(line).toContain("user_id=42")
      const secret = fake.token.split(":")[1]!
      expect(h.logs.join("\n")).not.toContain(secret)
    }))
})
