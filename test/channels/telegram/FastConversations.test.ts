/**
 * Issue 13, "fast conversations": replies go out as fast as Telegram's flood limits allow (a
 * burst per chat), not one second apart, and the fake Bot API (same limits) never answers 429.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { formatForTelegram } from "../../../src/channels/telegram/TelegramFormat.ts"
import { FakeLlm, lastUserContent } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { startDaemon, texts } from "./harness.ts"

describe("Telegram: fast conversations", () => {
  it.scopedLive("a 10,000-character answer in three chunks arrives at once, not a second per chunk", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      let answer = ""
      for (let i = 0; answer.length < 10_000; i++) answer += `Paragraph ${i}: some **bold** text and more words.\n\n`
      llm.script(() => ({ content: answer }))
      yield* startDaemon(fake, llm)
      const chunks = formatForTelegram(answer).length
      expect(chunks).toBeGreaterThanOrEqual(3)

      fake.pushText({ chatId: 42, userId: 42, text: "write a lot" })
      const sent = yield* fake.waitForSentEffect(chunks, 10_000)
      const attempts = fake.callsOf("sendMessage")
      expect(attempts.every((c) => c.status === 200)).toBe(true)
      expect(sent.at(-1)!.at - sent[0]!.at).toBeLessThan(500)
    }))

  it.scopedLive("a quick second message in the same chat is answered without waiting a second", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.script((request) => ({ content: `answer to ${lastUserContent(request)}` }))
      yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "first" })
      yield* fake.waitForSentEffect(1)
      fake.pushText({ chatId: 42, userId: 42, text: "second" })
      const sent = yield* fake.waitForSentEffect(2)
      expect(texts(sent)).toEqual(["answer to first", "answer to second"])
      expect(sent[1]!.at - sent[0]!.at).toBeLessThan(700)
      expect(fake.callsOf("sendMessage").every((c) => c.status === 200)).toBe(true)
    }))
})
