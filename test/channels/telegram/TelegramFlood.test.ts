/**
 * Issue 8, "floods of strangers": 10,000 odd updates (strangers' messages in distinct chats,
 * malformed updates, edits, stickers, button presses) among 20 messages from the owner, against
 * the daemon as a process (dist/main.js) and a fake Bot API without flood limits. The owner gets
 * every reply while the flood is being read, strangers get a capped number of refusals, the log
 * stays short, resident memory stays within twice its idle size, and the flood is drained.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { processScope, telegramDaemonConfig } from "../../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../../support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"

const { adopt, launch } = processScope()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Resident memory of a process, in bytes (Linux). */
const rssOf = (pid: number) => {
  const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
  return Number(kb) * 1024
}

const owner = 42
const floodSize = 10_000
const ownerEvery = floodSize / 20

/** The i-th odd update of the flood: from a stranger, malformed, or of a kind the bot ignores. */
const oddUpdate = (telegram: FakeTelegramServer, i: number) => {
  const stranger = 1_000_000 + i
  const chat = { id: stranger, type: "private", first_name: `Stranger ${i}` }
  const from = { id: stranger, is_bot: false, first_name: `Stranger ${i}` }
  const junk = "x".repeat(2_000)
  switch (i % 5) {
    case 0:
      return telegram.pushText({ chatId: stranger, userId: stranger, text: `let me in ${junk}` })
    case 1:
      return telegram.pushUpdate({ message: { message_id: i, junk } })
    case 2:
      return telegram.pushUpdate({ edited_message: { message_id: i, date: 0, edit_date: 1, chat, from, text: junk } })
    case 3:
      return telegram.pushUpdate({ message: { message_id: i, date: 0, chat, from, sticker: { file_id: junk } } })
    default:
      return telegram.pushUpdate({ callback_query: { id: String(i), from, chat_instance: "c", data: junk } })
  }
}

describe("a flood of strangers and malformed updates", () => {
  it("the owner gets all 20 replies, memory stays within 2x idle, the log stays short, the flood drains", async () => {
    const dir = tempDir()
    const telegram = adopt(await startFakeTelegram({ floodLimits: false }))
    const llm = adopt(await startFakeLlm())
    llm.script((request) => ({ content: `answer to ${lastUserContent(request)}` }))
    const daemon = launch([
      "run",
      "--config",
      // Each question its own turn: the owner's 20 arrive faster than merge_window_ms would keep apart.
      telegramDaemonConfig(dir, telegram, llm, `allowed_user_ids = [${owner}]\nmerge_window_ms = 0`)
    ], {
      cwd: dir
    })

    telegram.pushText({ chatId: owner, userId: owner, text: "warm up" })
    await telegram.waitFor((f) => f.sent.some((m) => m.visibleText === "answer to warm up"), 20_000)
    await sleep(1_000)
    const idle = rssOf(daemon.child.pid!)

    const ownerUpdates = new Map<string, number>()
    for (let i = 1; i <= floodSize; i++) {
      if (i % ownerEvery === 0) {
        const text = `question ${i / ownerEvery}`
        ownerUpdates.set(`answer to ${text}`, telegram.pushText({ chatId: owner, userId: owner, text }).update_id)
      } else {
        oddUpdate(telegram, i)
      }
    }
    let peak = idle
    const ownerReplies = () =>
      telegram.sent.filter((m) => m.chat_id === owner && m.visibleText.startsWith("answer to q"))
    const startedAt = Date.now()
    while (telegram.pendingUpdates.length > 0 || ownerReplies().length < 20) {
      if (Date.now() - startedAt > 120_000) break
      peak = Math.max(peak, rssOf(daemon.child.pid!))
      await sleep(100)
    }
    const drainedIn = Date.now() - startedAt

    expect(ownerReplies().map((m) => m.visibleText).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `answer to question ${i + 1}`).sort()
    )
    expect(telegram.pendingUpdates).toHaveLength(0)
    // Each reply came right after the daemon read its question (confirmed by the next getUpdates),
    // or, as the owner asked faster than Telegram lets a bot answer one chat, one second after the
    // previous reply: never after the refusals to the strangers read before it.
    const polls = telegram.callsOf("getUpdates")
    let previous = 0
    const lateness = ownerReplies().map((reply) => {
      const updateId = ownerUpdates.get(reply.visibleText)!
      const confirmed = polls.find((call) => Number(call.params.offset ?? 0) > updateId)!.at
      const due = Math.max(confirmed, previous + 1_000)
      previous = reply.at
      return reply.at - due
    })
    expect(Math.max(...lateness)).toBeLessThan(1_500)
    expect(peak).toBeLessThan(2 * idle)
    // Strangers got a capped number of messages (a burst, then one every few seconds), not 2,000.
    const toStrangers = telegram.sent.filter((m) => m.chat_id !== owner)
    expect(toStrangers.length).toBeLessThanOrEqual(10 + Math.ceil(drainedIn / 6_000) + 1)
    // One short line per kind of ignored update and a summary a minute: no 8 KB lines, no line per update.
    const lines = daemon.stdout.split("\n").concat(daemon.stderr.split("\n"))
    expect(lines.every((line) => line.length < 2_000)).toBe(true)
    expect(lines.length).toBeLessThan(300)
  }, 180_000)
})
