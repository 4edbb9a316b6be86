import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  formatForTelegram,
  markdownToTelegramHtml,
  visibleText
} from "../../../src/channels/telegram/TelegramFormat.ts"
import { FakeLlm, lastUserContent } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { startDaemon, texts, waitForText } from "./harness.ts"

const noSpace = (s: string) => s.replace(/\s+/g, "")

describe("Telegram delivery: formatting, limits and errors", () => {
  it.scopedLive("a 10,000-character answer with code blocks arrives in valid chunks whose text is the answer", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const paragraph = (i: number) =>
        `Paragraph ${i}: some **bold** text, a [link](https://example.com/${i}) and \`code\` & <tags>.`
      const code = (i: number) =>
        "```ts\n" + Array.from({ length: 12 }, (_, j) => `const v${i}_${j} = a < b && c > d // ${j}`).join("\n") +
        "\n```"
      let answer = ""
      for (let i = 0; answer.length < 10_000; i++) answer += `${paragraph(i)}\n\n${i % 3 === 0 ? code(i) + "\n\n" : ""}`
      llm.script((request) => ({ content: lastUserContent(request) === "write a lot" ? answer : "short" }))
      yield* startDaemon(fake, llm)
      const expected = formatForTelegram(answer)
      expect(expected.length).toBeGreaterThanOrEqual(3)

      fake.pushText({ chatId: 42, userId: 42, text: "write a lot" })
      const sent = yield* fake.waitForSentEffect(expected.length, 10_000)
      for (const message of sent) {
        expect(message.parse_mode).toBe("HTML") // Telegram accepted each as HTML: no plain fallback
        expect(message.visibleText.length).toBeLessThanOrEqual(4096)
        expect(message.chat_id).toBe(42)
      }
      expect(noSpace(texts(sent).join(""))).toBe(noSpace(visibleText(markdownToTelegramHtml(answer))))
      // Each part went once: the next reply follows the last part.
      fake.pushText({ chatId: 42, userId: 42, text: "and now?" })
      yield* waitForText(fake, "short")
      expect(fake.sent).toHaveLength(expected.length + 1)
    }))

  it.scopedLive("Markdown with < > & is accepted as HTML and shows those characters", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.script(() => ({ content: "if a < b && c > d: `x<y>&z` <b>not bold</b>\n\n<<>>&& **done**" }))
      yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "compare" })
      const [reply] = yield* fake.waitForSentEffect(1)
      expect(reply!.parse_mode).toBe("HTML")
      expect(reply!.visibleText).toBe("if a < b && c > d: x<y>&z <b>not bold</b>\n\n<<>>&& done")
    }))

  it.scopedLive("429 twice, then the reply is delivered once", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      fake.failNext("sendMessage", { status: 429, retryAfter: 1, times: 2 })
      const h = yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "hi" })
      yield* fake.waitForSentEffect(1, 8_000)
      const attempts = fake.callsOf("sendMessage")
      expect(attempts.map((c) => c.status)).toEqual([429, 429, 200])
      // Each retry waited retry_after (1 s) after the 429.
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950)
      expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(950)
      fake.pushText({ chatId: 42, userId: 42, text: "again" })
      yield* waitForText(fake, "echo: again")
      expect(texts(fake.sent)).toEqual(["echo: hi", "echo: again"])
      expect(h.logs.some((l) => l.includes("flood limit"))).toBe(true)
    }))

  it.scopedLive("a 5xx or a broken gateway is retried; the reply arrives once", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      fake.failNext("sendMessage", { status: 500 })
      fake.failNext("sendMessage", { status: 502, rawBody: "<html><body>502 Bad Gateway</body></html>" })
      yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "hi" })
      yield* fake.waitForSentEffect(1)
      expect(fake.callsOf("sendMessage").map((c) => c.status)).toEqual([500, 502, 200])
      fake.pushText({ chatId: 42, userId: 42, text: "again" })
      yield* waitForText(fake, "echo: again")
      expect(texts(fake.sent)).toEqual(["echo: hi", "echo: again"])
    }))

  it.scopedLive("HTML Telegram cannot parse is resent as plain text; a blocked user is not retried", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      fake.failNext("sendMessage", {
        status: 400,
        description: "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0"
      })
      const h = yield* startDaemon(fake, llm, { telegram: { allowed_user_ids: [42, 43] } })
      fake.pushText({ chatId: 42, userId: 42, text: "**bold** move" })
      const [reply] = yield* fake.waitForSentEffect(1)
      expect(reply!.parse_mode).toBeUndefined()
      expect(reply!.visibleText).toBe("echo: bold move")
      expect(h.logs.some((l) => l.includes("resending it as plain text"))).toBe(true)

      fake.failNext("sendMessage", { status: 403 })
      fake.pushText({ chatId: 43, userId: 43, text: "are you there?" })
      yield* Effect.promise(() => llm.waitFor((f) => f.completions().length === 2))
      yield* fake.waitForEffect((f) => f.callsOf("sendMessage").some((c) => c.status === 403))
      // Not retried: the chat's next reply is the next attempt.
      fake.pushText({ chatId: 43, userId: 43, text: "unblocked" })
      yield* waitForText(fake, "echo: unblocked")
      expect(fake.callsOf("sendMessage").filter((c) => c.params.chat_id === 43).map((c) => c.status)).toEqual([
        403,
        200
      ])
      expect(h.logs.some((l) => l.includes("cannot receive messages") && l.includes("chat_id=43"))).toBe(true)
    }))
})
