/**
 * SIGTERM while hundreds of replies wait for Telegram's flood limits: the daemon stops within
 * `shutdown_timeout_seconds` (exit 0, the watchdog did not have to cut it short), the waiting
 * replies stay stored, and after a restart every message has been answered exactly once.
 */
import { describe, expect, it } from "@effect/vitest"
import { processScope, requireBuilt, writeConfig } from "../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"

const { adopt, launch } = processScope()
requireBuilt("telegram-poller", "Telegram channel")

/** Private chats, one message each: every reply needs its own slot of the 30-a-second overall limit. */
const chats = 1_200
/** Replies answered by the model but not yet sent when SIGTERM comes. */
const backlog = 300

describe("shutdown under a backlog of queued replies", () => {
  it(
    "SIGTERM with hundreds of replies queued exits 0 in time; after a restart each chat has its one reply",
    async () => {
      const dir = tempDir()
      // Telegram's limits (30 messages a second overall, one a second per chat), enforced by the fake.
      const telegram = adopt(await startFakeTelegram())
      const llm = adopt(await startFakeLlm())
      llm.script((request) => ({ content: `answer to ${lastUserContent(request)}` }))
      const ids = Array.from({ length: chats }, (_, i) => 1_000 + i)
      const file = writeConfig(
        dir,
        `
[runtime]
data_dir = "${dir}/data"
shutdown_timeout_seconds = 8
[llm]
base_url = "${llm.url}"
model = "fake-model"
[channels.telegram]
enabled = true
bot_token = "${telegram.token}"
api_root = "${telegram.url}"
poll_timeout_seconds = 5
allowed_user_ids = [${ids.join(", ")}]
`
      )
      const first = launch(["run", "--config", file], { cwd: dir })
      for (const id of ids) telegram.pushText({ chatId: id, userId: id, text: `question of ${id}` })
      await llm.waitFor((f) => f.completions().length - telegram.sent.length >= backlog, 300_000)

      first.child.kill("SIGTERM")
      expect(await first.exited).toEqual({ code: 0, signal: null })
      expect(first.stderr).not.toContain("shutdown took longer")
      expect(telegram.sent.length).toBeLessThan(chats)

      const second = launch(["run", "--config", file], { cwd: dir })
      await telegram.waitForSent(chats, 400_000)
      second.child.kill("SIGTERM")
      expect(await second.exited).toEqual({ code: 0, signal: null })

      // Once both processes are gone, each chat has exactly its one answer.
      const replies = new Map<number, Array<string>>()
      for (const m of telegram.sent) {
        const chat = Number(m.chat_id)
        replies.set(chat, [...(replies.get(chat) ?? []), m.visibleText])
      }
      for (const id of ids) expect(replies.get(id)).toEqual([`answer to question of ${id}`])
      expect(telegram.sent).toHaveLength(chats)
    },
    900_000
  )
})
