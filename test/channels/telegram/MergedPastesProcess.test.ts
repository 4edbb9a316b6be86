/**
 * A merged paste across kill -9 (dist/main.js, built by `npm test`'s pretest): the parts are stored
 * when they arrive, so a crash inside the merge window loses none of them, and after the restart
 * the paste is answered once, as one turn.
 */
import { describe, expect, it } from "@effect/vitest"
import { processScope, requireBuilt, telegramDaemonConfig } from "../../support/Daemon.ts"
import { lastUserContent, startFakeLlm } from "../../support/FakeLlm.ts"
import { startFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"

const { adopt, launch } = processScope()
requireBuilt("merge_window_ms", "merging of split pastes")

describe("merged pastes, as a process", () => {
  it("kill -9 inside the merge window, then a restart: the paste is answered once, as one turn", async () => {
    const dir = tempDir()
    const telegram = adopt(await startFakeTelegram())
    const llm = adopt(await startFakeLlm())
    // Names each line by its first two words: the parts are long, as Telegram cuts a paste.
    llm.script((request) => ({
      content: `answer to ${
        lastUserContent(request).split("\n").map((l) => l.split(" ").slice(0, 2).join(" ")).join("\n")
      }`
    }))
    // A wide window: the kill below lands inside it even on a slow machine.
    const file = telegramDaemonConfig(dir, telegram, llm, "allowed_user_ids = [42]\nmerge_window_ms = 4000")
    const first = launch(["run", "--config", file], { cwd: dir })
    await first.waitForStderr(/long polling started/)
    // Every part is as long as Telegram cuts them, so the turn waits out the window after the last
    // (a short last part would end the paste at once, and the kill could come after the turn).
    for (
      const part of ["first part ".padEnd(4000, "a"), "second part ".padEnd(4000, "b"), "third part ".padEnd(4000, "c")]
    ) {
      telegram.pushText({ chatId: 42, userId: 42, text: part })
    }
    // Telegram's offset moved past the parts: each is stored in the conversation's mailbox.
    await telegram.waitFor((fake) => fake.pendingUpdates.length === 0)
    first.child.kill("SIGKILL")
    expect((await first.exited).signal).toBe("SIGKILL")
    expect(llm.completions()).toHaveLength(0)
    expect(telegram.sent).toHaveLength(0)

    launch(["run", "--config", file], { cwd: dir })
    await telegram.waitForSent(1, 30_000)
    // A part answered on its own would come before the answer to the next message.
    telegram.pushText({ chatId: 42, userId: 42, text: "thanks" })
    await telegram.waitForSent(2, 30_000)
    expect(telegram.sent.map((m) => m.visibleText)).toEqual([
      "answer to first part\nsecond part\nthird part",
      "answer to thanks"
    ])
    expect(llm.completions()).toHaveLength(2)
  }, 60_000)
})
