/**
 * Streamed replies on the fake Bot API: what a person sees while the model writes (a draft in a
 * private chat, a placeholder edited in place in a group), and that the final reply is the same
 * complete message as without streaming.
 */
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

const words = (n: number, prefix = "word") => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(" ")
const rendered = (markdown: string) => visibleText(markdownToTelegramHtml(markdown))
const fast = { streaming_interval_ms: 150 }

describe("Telegram: streamed replies", () => {
  it.scopedLive("in a private chat the draft grows with the answer and the final message equals the rendered answer", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const answer = `**Short** answer: ${words(30)} and *the end*.`
      llm.enqueue({ content: answer, tokenDelayMs: 80 })
      yield* startDaemon(fake, llm, { telegram: fast })
      fake.pushText({ chatId: 42, userId: 42, text: "tell me" })
      const [final] = yield* fake.waitForSentEffect(1)

      expect(final!.visibleText).toBe(rendered(answer))
      expect(final!.parse_mode).toBe("HTML")
      expect(fake.sent).toHaveLength(1)
      const drafts = fake.drafts
      // How many depends on the chat's flood allowance and the pace of the stream; it grows at least once.
      expect(drafts.length).toBeGreaterThanOrEqual(2)
      // One draft per reply, animated: the same non-zero id; its text grows, in the answer's words.
      expect(new Set(drafts.map((d) => d.draft_id)).size).toBe(1)
      expect(drafts[0]!.draft_id).not.toBe(0)
      for (const [i, draft] of drafts.entries()) {
        expect(draft.chat_id).toBe(42)
        expect(draft.parse_mode).toBe("HTML") // Markdown rendered as in the final reply
        // A draft cut inside "*the end*" shows its opening asterisk as text until the closing one comes.
        expect(final!.visibleText.startsWith(draft.visibleText.replace(/\*/g, "").replace(/\s+$/, ""))).toBe(true)
        if (i > 0) expect(draft.visibleText.length).toBeGreaterThan(drafts[i - 1]!.visibleText.length)
      }
      // Every draft went before the final message.
      expect(drafts.every((d) => d.at <= final!.at)).toBe(true)
      expect(llm.completions()[0]!.body.stream).toBe(true)
    }))

  it.scopedLive("no preview goes inside a retry_after window, and the final reply still arrives whole", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const answer = words(60)
      llm.enqueue({ content: answer, tokenDelayMs: 50 })
      fake.failNext("sendMessageDraft", { status: 429, retryAfter: 2 })
      yield* startDaemon(fake, llm, { telegram: fast })
      fake.pushText({ chatId: 42, userId: 42, text: "go" })
      const [final] = yield* fake.waitForSentEffect(1)
      expect(final!.visibleText).toBe(answer)

      const calls = fake.calls.filter((c) => c.method === "sendMessageDraft" || c.method === "sendMessage")
      const limited = calls.find((c) => c.status === 429)!
      const after = calls.filter((c) => c.at > limited.at)
      expect(after.length).toBeGreaterThanOrEqual(2) // previews resumed after the window, then the final
      for (const call of after) expect(call.at - limited.at).toBeGreaterThanOrEqual(1_950)
      expect(fake.calls.filter((c) => c.status === 429)).toHaveLength(1)
      expect(fake.drafts.length).toBeGreaterThanOrEqual(1)
    }))

  it.scopedLive("while a code block is still open the preview is plain text; Telegram never refuses one", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const code = Array.from({ length: 12 }, (_, i) => `if (a${i} < b && c > d) x${i}++`).join("\n")
      const answer = `Here is the code:\n\n\`\`\`js\n${code}\n\`\`\`\n\nThat **is** all.`
      llm.enqueue({ content: answer, tokenDelayMs: 20 })
      yield* startDaemon(fake, llm, { telegram: fast })
      fake.pushText({ chatId: 42, userId: 42, text: "code please" })
      const [final] = yield* fake.waitForSentEffect(1)

      expect(final!.parse_mode).toBe("HTML")
      expect(final!.visibleText).toBe(rendered(answer))
      const inCode = fake.drafts.filter((d) => d.text.includes("```js"))
      expect(inCode.length).toBeGreaterThanOrEqual(1)
      for (const draft of inCode) expect(draft.parse_mode).toBeUndefined()
      expect(fake.callsOf("sendMessageDraft").every((c) => c.status === 200)).toBe(true)
    }))

  it.scopedLive("while a tool runs the preview says so", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.enqueue(
        { toolCalls: [{ name: "calculator", arguments: { expression: "6 * 7" } }] },
        { content: "It is 42.", delayMs: 600 }
      )
      yield* startDaemon(fake, llm, { telegram: fast })
      fake.pushText({ chatId: 42, userId: 42, text: "6 times 7?" })
      yield* waitForText(fake, "It is 42.")
      expect(fake.drafts.map((d) => d.visibleText)).toContain("Using calculator...")
      expect(texts(fake.sent)).toEqual(["It is 42."])
    }))

  it.scopedLive("/stop mid-stream aborts the LLM request at once and ends with \"Stopped.\"", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.enqueue({ content: words(400), tokenDelayMs: 50 })
      yield* startDaemon(fake, llm, { telegram: fast })
      fake.pushText({ chatId: 42, userId: 42, text: "write an essay" })
      yield* fake.waitForEffect((f) => f.drafts.length >= 2)
      fake.pushText({ chatId: 42, userId: 42, text: "/stop" })
      yield* waitForText(fake, "Stopped.")
      yield* Effect.promise(() => llm.waitFor((f) => f.completions()[0]!.aborted, 5_000))
      // The half-written answer was never sent as a message: the chat ends with "Stopped.".
      expect(texts(fake.sent)).toEqual(["Stopped."])
      expect(fake.drafts.every((d) => !d.visibleText.includes("word399"))).toBe(true)
      fake.pushText({ chatId: 42, userId: 42, text: "next" })
      yield* waitForText(fake, "echo: next")
    }))

  it.scopedLive("in a group the reply streams into a placeholder edited in place, which becomes the reply", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const group = -1001
      const answer = `The **group** answer: ${words(40)}.`
      llm.enqueue({ content: answer, tokenDelayMs: 100 })
      yield* startDaemon(fake, llm, { telegram: { ...fast, allowed_chat_ids: [group] } })
      const question = fake.pushText({ chatId: group, userId: 42, text: "@minibot_test_bot explain" })
      yield* fake.waitForEffect((f) => f.sent.some((m) => m.visibleText === rendered(answer)))

      expect(fake.drafts).toHaveLength(0)
      expect(fake.sent).toHaveLength(1) // one message: the placeholder became the reply
      const [reply] = fake.sent
      expect(reply!.chat_id).toBe(group)
      expect(reply!.reply_to_message_id).toBe(question.message!.message_id)
      expect(reply!.parse_mode).toBe("HTML")
      expect(reply!.edits).toBeGreaterThanOrEqual(1)
      expect(fake.callsOf("editMessageText").length).toBeGreaterThanOrEqual(1)
      expect(fake.deleted).toHaveLength(0)
    }))

  it.scopedLive("a group reply the model gives at once is sent whole, without a placeholder", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const [group, other] = [-1001, -1002]
      yield* startDaemon(fake, llm, { telegram: { streaming_interval_ms: 5_000, allowed_chat_ids: [group, other] } })
      // The first request also loads the LLM client, which may take long enough for a placeholder:
      // in another group, so that this one's flood allowance is whole.
      fake.pushText({ chatId: other, userId: 42, text: "@minibot_test_bot warm up" })
      yield* waitForText(fake, "echo: warm up")
      const [sends, edits] = [fake.callsOf("sendMessage").length, fake.callsOf("editMessageText").length]
      llm.enqueue({ content: words(5), tokenDelayMs: 20 })
      fake.pushText({ chatId: group, userId: 42, text: "@minibot_test_bot quick" })
      yield* waitForText(fake, words(5))
      expect(fake.callsOf("sendMessage")).toHaveLength(sends + 1)
      expect(fake.callsOf("editMessageText")).toHaveLength(edits)
    }))

  it.scopedLive("a group reply streamed over a while shows its placeholder within a fraction of a second", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const group = -1001
      const answer = words(40)
      llm.enqueue({ content: answer, tokenDelayMs: 100 })
      yield* startDaemon(fake, llm, { telegram: { streaming_interval_ms: 5_000, allowed_chat_ids: [group] } })
      fake.pushText({ chatId: group, userId: 42, text: "@minibot_test_bot explain" })
      yield* waitForText(fake, answer)
      // Over 4 s of tokens with 5 s between updates: the placeholder came before the interval, so
      // the reply was shown partly written, then edited into the whole answer.
      const [reply] = fake.sent
      expect(fake.sent).toHaveLength(1)
      expect(reply!.edits).toBeGreaterThanOrEqual(1)
      expect(fake.callsOf("editMessageText").length).toBeGreaterThanOrEqual(1)
    }))

  it.scopedLive("a private reply the model streams at once is sent whole, without a draft", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm, { telegram: { streaming_interval_ms: 5_000, allowed_user_ids: [42, 43] } })
      // The first request also loads the LLM client, which may take long enough for a draft: in
      // another chat, so that this one's flood allowance is whole.
      fake.pushText({ chatId: 43, userId: 43, text: "warm up" })
      yield* waitForText(fake, "echo: warm up")
      const drafts = fake.callsOf("sendMessageDraft").length
      // Streamed over about 0.1 s: the first words come at once, the last before a draft would.
      llm.enqueue({ content: words(5), tokenDelayMs: 20 })
      fake.pushText({ chatId: 42, userId: 42, text: "quick" })
      yield* waitForText(fake, words(5))
      expect(fake.callsOf("sendMessage")).toHaveLength(2)
      expect(fake.callsOf("sendMessageDraft")).toHaveLength(drafts)
      expect(llm.completions()[1]!.body.stream).toBe(true)
    }))

  it.scopedLive("streaming = \"draft\": a group gets its reply whole, a private chat still gets drafts", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const group = -1001
      llm.enqueue({ content: words(30), tokenDelayMs: 60 }, { content: words(20, "dm"), tokenDelayMs: 60 })
      yield* startDaemon(fake, llm, { telegram: { ...fast, streaming: "draft", allowed_chat_ids: [group] } })
      fake.pushText({ chatId: group, userId: 42, text: "@minibot_test_bot explain" })
      yield* waitForText(fake, words(30))
      expect(fake.callsOf("sendMessage")).toHaveLength(1)
      expect(fake.callsOf("editMessageText")).toHaveLength(0)
      fake.pushText({ chatId: 42, userId: 42, text: "and you?" })
      yield* waitForText(fake, words(20, "dm"))
      expect(fake.drafts.length).toBeGreaterThanOrEqual(1)
      expect(fake.drafts.every((d) => d.chat_id === 42)).toBe(true)
    }))

  it.scopedLive("a Bot API server without sendMessageDraft (404): previews fall back to editing a message", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram({ withoutDrafts: true })
      const llm = yield* FakeLlm.make()
      const answer = words(40)
      llm.enqueue({ content: answer, tokenDelayMs: 60 }, { content: words(30, "more"), tokenDelayMs: 60 })
      const h = yield* startDaemon(fake, llm, { telegram: fast })
      fake.pushText({ chatId: 42, userId: 42, text: "first" })
      yield* waitForText(fake, answer)
      expect(fake.sent).toHaveLength(1)
      expect(fake.sent[0]!.edits).toBeGreaterThanOrEqual(1)
      expect(fake.callsOf("sendMessageDraft").map((c) => c.status)).toEqual([404])

      // The next reply starts with an edited placeholder at once: drafts are not tried again.
      fake.pushText({ chatId: 42, userId: 42, text: "second" })
      yield* waitForText(fake, words(30, "more"))
      expect(texts(fake.sent)).toEqual([answer, words(30, "more")])
      expect(fake.callsOf("sendMessageDraft")).toHaveLength(1)
      expect(h.logs.filter((l) => l.includes("does not know sendMessageDraft"))).toHaveLength(1)
    }))

  it.scopedLive("streaming = \"off\": no previews, one plain request, the whole reply at once", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.script((request) => ({ content: `**off**: ${lastUserContent(request)}`, tokenDelayMs: 30 }))
      yield* startDaemon(fake, llm, { telegram: { streaming: "off" } })
      fake.pushText({ chatId: 42, userId: 42, text: "hello" })
      const [reply] = yield* fake.waitForSentEffect(1)
      expect(reply!.visibleText).toBe("off: hello")
      expect(fake.drafts).toHaveLength(0)
      expect(fake.callsOf("sendMessageDraft")).toHaveLength(0)
      expect(fake.callsOf("editMessageText")).toHaveLength(0)
      expect(llm.completions()[0]!.body.stream).toBeUndefined()
    }))

  it.scopedLive("a long streamed answer ends as the same chunks as without streaming", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const answer = Array.from({ length: 90 }, (_, i) => `Paragraph ${i}: ${words(10)}.`).join("\n\n")
      llm.enqueue({ content: answer, tokenDelayMs: 1 })
      yield* startDaemon(fake, llm, { telegram: fast })
      const expected = formatForTelegram(answer)
      expect(expected.length).toBeGreaterThanOrEqual(2)
      fake.pushText({ chatId: 42, userId: 42, text: "long" })
      const sent = yield* fake.waitForSentEffect(expected.length)
      expect(sent.map((m) => m.text)).toEqual(expected.map((c) => c.html))
      for (const draft of fake.drafts) expect(draft.visibleText.length).toBeLessThanOrEqual(4096)
    }))
})
