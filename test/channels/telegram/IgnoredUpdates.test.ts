/**
 * Issue 8: an ignored update is logged in one short line (its kind and id, never its body), and
 * repeated ones are counted and summarised, not logged one by one.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { FakeLlm } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { startDaemon, waitForText } from "./harness.ts"

describe("Telegram: ignored updates in the log", () => {
  it.scopedLive("200 malformed or ignored updates with 8 KB bodies make a few short lines and a summary", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram({ floodLimits: false })
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm, { timings: { logSummaryInterval: Duration.seconds(2) } })
      const junk = "x".repeat(8_000)
      const chat = { id: 7, type: "private", first_name: "Eve" }
      for (let i = 0; i < 100; i++) {
        fake.pushUpdate({ message: { message_id: i, junk } })
        fake.pushUpdate({ edited_message: { message_id: i, date: 0, edit_date: 1, chat, text: junk } })
      }
      fake.pushText({ chatId: 42, userId: 42, text: "still there?" })
      yield* waitForText(fake, "echo: still there?", 20_000)
      yield* Effect.sleep(Duration.millis(200)).pipe(
        Effect.repeat({ until: () => h.logs.some((l) => l.includes("in the last")) }),
        Effect.timeout(Duration.seconds(10))
      )
      const aboutThem = h.logs.filter((l) => l.includes("unexpected shape") || l.includes("updates, ignored"))
      expect(aboutThem.every((l) => l.length < 600)).toBe(true)
      expect(h.logs.some((l) => l.includes("x".repeat(100)))).toBe(false)
      // Per kind, one line and one summary every 2 s while they come: a few lines, not 200.
      expect(aboutThem.length).toBeLessThanOrEqual(20)
      expect(h.logs.some((l) => /updates in an unexpected shape, ignored: \d+ in the last 2s/.test(l))).toBe(true)
      expect(h.logs.some((l) => /edited_message updates, ignored: \d+ in the last 2s/.test(l))).toBe(true)
    }))
})
