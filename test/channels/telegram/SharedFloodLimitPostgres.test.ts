/**
 * Two `minibot run` processes on one Postgres send for one bot: Telegram's overall flood limit
 * (30 messages a second, bursts of 30) is the bot's, so together they must keep it. The fake Bot
 * API counts that limit over every caller, as Telegram does, and answers 429 past it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, processScope, requireBuilt, runnerKeys, telegramDaemonConfig } from "../../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../../support/FakeLlm.ts"
import { startFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"
import { databaseDroppedBy } from "../../support/Postgres.ts"

const { adopt, launch, onCleanup } = processScope()
requireBuilt("shared among", "shared Telegram flood limit")

/** More replies at once than the bot may send in a burst, from chats spread over both runners. */
const chats = Array.from({ length: 150 }, (_, i) => 5001 + i)

const database = databaseDroppedBy(onCleanup)

describe("two runners on Postgres share Telegram's overall flood limit", () => {
  it("150 chats answered at once by two runners: every reply sent, no 429 from Telegram", async () => {
    const db = await database()
    const telegram = adopt(await startFakeTelegram())
    const llm = adopt(await startFakeLlm())
    llm.script((request) => ({ content: `echo: ${lastUserContent(request)}` }))
    const runners = await Promise.all([0, 1].map(async () => {
      const dir = tempDir()
      const config = telegramDaemonConfig(
        dir,
        telegram,
        llm,
        `allowed_user_ids = [${chats.join(", ")}]\n${runnerKeys(db.url, `127.0.0.1:${await freePort()}`)}`
      )
      return launch(["run", "--config", config], { cwd: dir })
    }))
    await Promise.all(runners.map((r) => r.waitForStderr(/minibot started/, 30_000)))
    // Each has counted the other: from now on each sends at most half the bot's rate.
    await Promise.all(runners.map((r) => r.waitForStderr(/shared among 2 runners/, 20_000)))

    for (const chat of chats) telegram.pushText({ chatId: chat, userId: chat, text: `hello from ${chat}` })
    await Effect.runPromise(telegram.waitForSentEffect(chats.length, 90_000))

    const answered = new Set(telegram.sent.map((m) => Number(m.chat_id)))
    expect([...answered].sort((a, b) => a - b)).toEqual(chats)
    const limited = telegram.calls.filter((c) => c.status === 429)
    expect(limited.map((c) => `${c.method} ${String(c.params.chat_id)} at ${c.at}`)).toEqual([])
    for (const r of runners) expect(r.stderr).not.toMatch(/Telegram flood limit on/)
  }, 150_000)
})
