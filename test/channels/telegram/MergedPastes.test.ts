/**
 * Issue 11, "merged pastes": Telegram splits a paste longer than 4096 characters into several
 * messages sent within about a second. Consecutive messages of one person in one chat within
 * `[channels.telegram] merge_window_ms` are one turn with the texts joined in order, and each
 * part is answered exactly once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { FakeLlm, lastUserContent } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { startDaemon, texts } from "./harness.ts"

/** A paste of three parts as Telegram sends it: 4096 characters, 4096, then the rest. */
const paste = ["A", "B", "C"].map((letter, i) => `part ${i + 1} `.padEnd(i < 2 ? 4096 : 900, letter))

describe("Telegram: merged pastes", () => {
  it.scopedLive("a paste split into three messages is one turn with the texts joined in order", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.script((request) => {
        const text = lastUserContent(request)
        return { content: `read ${text.length} characters in ${text.split("\n").length} lines` }
      })
      yield* startDaemon(fake, llm, { telegram: { merge_window_ms: 1500 } })
      for (const part of paste) fake.pushText({ chatId: 42, userId: 42, text: part })
      yield* fake.waitForSentEffect(1)
      // The next question gets the next reply: no part was answered on its own before or after.
      fake.pushText({ chatId: 42, userId: 42, text: "thanks" })
      const sent = yield* fake.waitForSentEffect(2)

      const joined = paste.join("\n")
      expect(texts(sent)).toEqual([`read ${joined.length} characters in 3 lines`, "read 6 characters in 1 lines"])
      expect(llm.completions().map((r) => lastUserContent(r.body))).toEqual([joined, "thanks"])
    }))

  it.scopedLive("another person's message ends a paste: in a group each person's burst is its own turn", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      // Names each line by its first word: "one+two" is a turn of two joined parts.
      llm.script((request) => ({
        content: `answer to ${lastUserContent(request).split("\n").map((line) => line.split(" ")[0]).join("+")}`
      }))
      yield* startDaemon(fake, llm, {
        telegram: { merge_window_ms: 1500, allowed_user_ids: [42, 43], group_mode: "always" }
      })
      const group = { chatId: -100, chatType: "group" as const }
      // A part as long as Telegram cuts them: the turn waits for the rest of the paste.
      fake.pushText({ ...group, userId: 42, text: "one ".padEnd(4000, "x") })
      fake.pushText({ ...group, userId: 42, text: "two" })
      fake.pushText({ ...group, userId: 43, text: "mine" })
      fake.pushText({ ...group, userId: 42, text: "three" })
      const sent = yield* fake.waitForSentEffect(3)
      expect(texts(sent)).toEqual(["answer to one+two", "answer to mine", "answer to three"])
      fake.pushText({ ...group, userId: 43, text: "last" })
      expect(texts(yield* fake.waitForSentEffect(4)).at(-1)).toBe("answer to last")
      expect(llm.completions()).toHaveLength(4)
    }))

  it.scopedLive("a short message is answered at once: the window is waited out only after a part Telegram may have cut", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.script((request) => ({ content: `answer to ${lastUserContent(request)}` }))
      // A window far longer than the test may take: a turn that waited it out would time out below.
      yield* startDaemon(fake, llm, { telegram: { merge_window_ms: 10_000 } })
      fake.pushText({ chatId: 42, userId: 42, text: "hello" })
      expect(texts(yield* fake.waitForSentEffect(1, 8_000))).toEqual(["answer to hello"])
    }))

  it.scopedLive("merge_window_ms = 0: each message is answered on its own", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.script((request) => ({ content: `answer to ${lastUserContent(request)}` }))
      yield* startDaemon(fake, llm, { telegram: { merge_window_ms: 0 } })
      fake.pushText({ chatId: 42, userId: 42, text: "one" })
      fake.pushText({ chatId: 42, userId: 42, text: "two" })
      const sent = yield* fake.waitForSentEffect(2)
      expect(texts(sent)).toEqual(["answer to one", "answer to two"])
    }))
})
