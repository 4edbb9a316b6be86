/**
 * A streamed reply and kill -9, with `minibot` as a process (dist/main.js, built by `npm test`'s
 * pretest) against the loopback fakes: the preview is never left as the answer.
 */
import { describe, expect, it } from "@effect/vitest"
import { processScope, requireBuilt, telegramDaemonConfig } from "../../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../../support/FakeLlm.ts"
import { startFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"

const { adopt, launch } = processScope()
requireBuilt("sendMessageDraft", "streamed replies")

const essay = Array.from({ length: 300 }, (_, i) => `word${i}`).join(" ")

describe("streamed replies, as a process", () => {
  it("kill -9 while a reply streams, then a restart: exactly one complete reply, never the preview", async () => {
    const dir = tempDir()
    const telegram = adopt(await startFakeTelegram())
    const llm = adopt(await startFakeLlm())
    llm.script((request) =>
      llm.completions().length === 1
        ? { content: essay, tokenDelayMs: 50 }
        : { content: `answer to ${lastUserContent(request)}` }
    )
    const file = telegramDaemonConfig(
      dir,
      telegram,
      llm,
      "allowed_user_ids = [42]\nstreaming_interval_ms = 200",
      "request_timeout_seconds = 30"
    )
    const first = launch(["run", "--config", file], { cwd: dir })
    telegram.pushText({ chatId: 42, userId: 42, text: "slow question" })
    await telegram.waitFor((f) => f.drafts.length >= 2, 15_000)
    first.child.kill("SIGKILL")
    expect((await first.exited).signal).toBe("SIGKILL")
    expect(telegram.sent).toHaveLength(0)
    expect(telegram.drafts.every((d) => d.visibleText.startsWith("word0"))).toBe(true)

    launch(["run", "--config", file], { cwd: dir })
    await telegram.waitForSent(1, 15_000)
    // A duplicate or a late partial would come before the answer to the next message.
    telegram.pushText({ chatId: 42, userId: 42, text: "anything else?" })
    await telegram.waitForSent(2, 10_000)
    expect(telegram.sent.map((m) => [m.chat_id, m.visibleText])).toEqual([
      [42, "answer to slow question"],
      [42, "answer to anything else?"]
    ])
    expect(llm.completions()).toHaveLength(3)
  })

  it(
    "kill -9 while a group reply streams into its placeholder: after the restart that message becomes the reply",
    async () => {
      const dir = tempDir()
      const telegram = adopt(await startFakeTelegram())
      const llm = adopt(await startFakeLlm())
      const group = -1001
      llm.script((request) =>
        llm.completions().length === 1
          ? { content: essay, tokenDelayMs: 50 }
          : { content: `answer to ${lastUserContent(request)}` }
      )
      const file = telegramDaemonConfig(
        dir,
        telegram,
        llm,
        `allowed_chat_ids = [${group}]\nstreaming_interval_ms = 200`,
        "request_timeout_seconds = 30"
      )
      const first = launch(["run", "--config", file], { cwd: dir })
      const question = telegram.pushText({ chatId: group, userId: 42, text: "@minibot_test_bot explain" })
      // Edited once: the placeholder's id is stored with the turn by then (before its first edit).
      await telegram.waitFor(
        (f) =>
          f.sent.length === 1 && f.sent[0]!.visibleText.startsWith("word0 word1") &&
          f.callsOf("editMessageText").length > 0,
        15_000
      )
      first.child.kill("SIGKILL")
      expect((await first.exited).signal).toBe("SIGKILL")

      launch(["run", "--config", file], { cwd: dir })
      await telegram.waitFor((f) => /^answer to .*explain$/.test(f.sent[0]!.visibleText), 20_000)
      telegram.pushText({ chatId: group, userId: 42, text: "@minibot_test_bot anything else?" })
      await telegram.waitForSent(2, 20_000)
      // One message per reply: the half answer became the complete one, nothing was left behind.
      expect(telegram.sent.map((m) => m.visibleText)).toEqual([
        expect.stringMatching(/^answer to .*explain$/),
        expect.stringMatching(/^answer to .*anything else\?$/)
      ])
      expect(telegram.sent[0]!.reply_to_message_id).toBe(question.message!.message_id)
      expect(telegram.deleted).toHaveLength(0)
    },
    60_000
  )
})
