import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mediaNotice } from "../../../src/channels/telegram/TelegramIntake.ts"
import { conversationKey } from "../../../src/domain/Conversation.ts"
import { Actors } from "../../../src/runtime/Actors.ts"
import { FakeLlm, lastUserContent } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { pollUntil } from "../../support/Wait.ts"
import { startDaemon, texts, waitForText } from "./harness.ts"

describe("Telegram channel: private chats", () => {
  it.scopedLive("answers a message in the chat it came from, with typing shown meanwhile", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      // The model takes a second: long enough for "typing…" (an answer within 300 ms goes without).
      const llm = yield* FakeLlm.make({ latencyMs: 1000 })
      yield* startDaemon(fake, llm, { telegram: { allowed_user_ids: [42, 43] } })
      fake.pushText({ chatId: 42, userId: 42, text: "hello" })
      fake.pushText({ chatId: 43, userId: 43, text: "bonjour" })
      yield* fake.waitForSentEffect(2)
      const byChat = Object.fromEntries(fake.sent.map((m) => [m.chat_id, m.visibleText]))
      expect(byChat).toEqual({ 42: "echo: hello", 43: "echo: bonjour" })
      expect(fake.sent.every((m) => m.parse_mode === "HTML" && m.reply_parameters === undefined)).toBe(true)
      expect(fake.callsOf("sendChatAction").some((c) => c.params.chat_id === 42 && c.params.action === "typing")).toBe(
        true
      )
      fake.pushText({ chatId: 42, userId: 42, text: "and?" })
      yield* waitForText(fake, "echo: and?")
      expect(texts(fake.sent)).toHaveLength(3)
    }))

  it.scopedLive("stickers get a notice, captions are read, other update kinds and malformed ones are ignored", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm)
      const chat = { id: 42, type: "private", first_name: "Ann" }
      const from = { id: 42, is_bot: false, first_name: "Ann" }
      fake.pushUpdate({ message: { message_id: 100, date: 0, chat, from, sticker: { file_id: "x" } } })
      yield* waitForText(fake, mediaNotice)
      fake.pushUpdate({ edited_message: { message_id: 100, date: 0, edit_date: 1, chat, from, text: "edited" } })
      fake.pushUpdate({ callback_query: { id: "1", from, chat_instance: "c", data: "x" } })
      fake.pushUpdate({ my_chat_member: { chat, from, date: 0 } })
      fake.pushUpdate({ message: { message_id: 101, date: 0, chat, from, new_chat_members: [from] } })
      fake.pushUpdate({ message: { message_id: 102 } })
      fake.pushUpdate({ message: { message_id: 103, date: 0, chat: { id: -5, type: "channel" }, text: "post" } })
      const photo = fake.addFile({ bytes: new Uint8Array([0xff, 0xd8, 0xff, 1]), path: "photos/p.jpg" })
      fake.pushUpdate({
        message: { message_id: 104, date: 0, chat, from, photo: [{ file_id: photo }], caption: "what is this?" }
      })
      const photoTurn = `[photo (file ${photo})]\n\nwhat is this?`
      yield* waitForText(fake, `echo: ${photoTurn}`)
      fake.pushText({ chatId: 42, userId: 42, text: "still there?" })
      yield* waitForText(fake, "echo: still there?")
      expect(llm.completions().map((r) => lastUserContent(r.body))).toEqual([photoTurn, "still there?"])
      expect(texts(fake.sent)).toEqual([mediaNotice, `echo: ${photoTurn}`, "echo: still there?"])
      expect(h.logs.some((l) => l.includes("unexpected shape"))).toBe(true)
    }))
})

describe("Telegram channel: access control", () => {
  it.scopedLive("a stranger gets one refusal with their ids, at most once an hour, and nothing reaches the LLM", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 99, userId: 99, text: "let me in" })
      fake.pushText({ chatId: 99, userId: 99, text: "please" })
      fake.pushText({ chatId: 99, userId: 99, text: "/start" })
      const refusal = yield* waitForText(fake, /only answer people/)
      expect(refusal.chat_id).toBe(99)
      expect(refusal.visibleText).toContain("user id is 99")
      expect(refusal.visibleText).toContain("chat's id is 99")
      // Updates are handled in order: once the owner's later message is answered, the stranger's
      // two later messages have been turned away at the door, never handed to a conversation.
      fake.pushText({ chatId: 42, userId: 42, text: "owner here" })
      yield* waitForText(fake, "echo: owner here")
      expect(h.logs.some((l) => l.includes("refused less than an hour ago"))).toBe(true)
      expect(texts(fake.sent)).toHaveLength(2)
      expect(llm.completions()).toHaveLength(1)
      const rows = yield* h.sql`SELECT COUNT(*) AS n FROM history WHERE conversation_key = 'telegram:99'`
      expect(Number(rows[0]!.n)).toBe(0)
      const turns = yield* h.sql`SELECT COUNT(*) AS n FROM turns WHERE conversation_key = 'telegram:99'`
      expect(Number(turns[0]!.n)).toBe(0)

      // An hour later the next message is refused again.
      yield* h.sql`UPDATE telegram_refusals SET refused_at = refused_at - ${3_600_001}`
      fake.pushText({ chatId: 99, userId: 99, text: "again" })
      yield* fake.waitForSentEffect(3)
      expect(fake.sent[2]!.visibleText).toMatch(/only answer people/)
      expect(llm.completions()).toHaveLength(1)
    }))

  it.scopedLive("a group is allowed by its chat id; allowed users are answered in any group", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm, { telegram: { allowed_chat_ids: [-100500] } })
      fake.pushText({ chatId: -100500, userId: 7, text: "@minibot_test_bot hi from 7" })
      yield* waitForText(fake, "echo: hi from 7")
      fake.pushText({ chatId: -200, userId: 42, text: "@minibot_test_bot hi from the owner" })
      yield* waitForText(fake, "echo: hi from the owner")
      fake.pushText({ chatId: -200, userId: 8, text: "@minibot_test_bot and me?" })
      const refusal = yield* waitForText(fake, /only answer people/)
      expect(refusal.visibleText).toContain("user id is 8 and this chat's id is -200")
      expect(llm.completions()).toHaveLength(2)
    }))
})

describe("Telegram channel: groups", () => {
  it.scopedLive("answers only when mentioned, replied to or commanded; strips the mention; replies to the message", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm, { telegram: { allowed_chat_ids: [-1001] } })
      const group = -1001
      fake.pushText({ chatId: group, userId: 5, text: "just chatting among humans" })
      fake.pushText({ chatId: group, userId: 5, text: "/status@other_bot" })
      const asked = fake.pushText({ chatId: group, userId: 5, text: "@Minibot_Test_Bot what time is it?" })
      const first = yield* waitForText(fake, "echo: what time is it?")
      expect(first.reply_parameters?.message_id).toBe(asked.message!.message_id)

      fake.pushText({ chatId: group, userId: 6, text: "thanks, and tomorrow?", replyTo: first.message_id })
      yield* waitForText(fake, "echo: thanks, and tomorrow?")
      fake.pushText({ chatId: group, userId: 6, text: "/help@minibot_test_bot" })
      yield* waitForText(fake, /mention me/)
      fake.pushText({ chatId: group, userId: 5, text: "@Minibot_Test_Bot last one" })
      // A group's fourth message in a row waits for its share of 20 a minute (about 3 s).
      yield* waitForText(fake, "echo: last one", 10_000)
      expect(llm.completions().map((r) => lastUserContent(r.body))).toEqual([
        "what time is it?",
        "thanks, and tomorrow?",
        "last one"
      ])
      expect(fake.sent).toHaveLength(4)
    }))

  it.scopedLive("group_mode = always answers every message; forum topics keep their thread", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      yield* startDaemon(fake, llm, { telegram: { allowed_chat_ids: [-1002], group_mode: "always" } })
      fake.pushText({ chatId: -1002, userId: 5, text: "no mention here", threadId: 77 })
      const reply = yield* waitForText(fake, "echo: no mention here")
      expect(reply.message_thread_id).toBe(77)
    }))
})

describe("Telegram channel: commands", () => {
  it.scopedLive("/status, /reset and /help are answered directly, not by the LLM", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const h = yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "remember 7" })
      yield* waitForText(fake, "echo: remember 7")
      fake.pushText({ chatId: 42, userId: 42, text: "/status" })
      const status = yield* waitForText(fake, /^Model: fake-model/)
      expect(status.visibleText).toMatch(/History: 2 messages \(1 exchange\)/)
      expect(status.visibleText).toMatch(/Queue: [01] messages? waiting in this chat/)
      expect(status.visibleText).toMatch(/Uptime: /)
      fake.pushText({ chatId: 42, userId: 42, text: "/reset" })
      yield* waitForText(fake, "Done: I forgot this conversation (2 messages).")
      fake.pushText({ chatId: 42, userId: 42, text: "what number?" })
      yield* waitForText(fake, "echo: what number?")
      expect(llm.completions().at(-1)!.body.messages.map((m) => m.role)).toEqual(["system", "user"])
      fake.pushText({ chatId: 42, userId: 42, text: "/help" })
      yield* waitForText(fake, /\/reset: forget this conversation/)
      // Every turn of the chat finished and marked handled.
      yield* pollUntil(
        h.use(Effect.flatMap(Actors, (actors) => actors.pending(conversationKey("telegram", "42")))),
        (n) => n === 0
      )
      fake.pushText({ chatId: 42, userId: 42, text: "/status" })
      yield* fake.waitForEffect((f) => f.sent.filter((m) => m.visibleText.startsWith("Model:")).length === 2)
      expect(fake.sent.filter((m) => m.visibleText.startsWith("Model:"))[1]!.visibleText).toMatch(
        /Queue: 0 messages waiting/
      )
      expect(llm.completions()).toHaveLength(2)
    }))

  it.scopedLive("/tasks lists the person's tasks and /tasks cancel ID cancels one", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.enqueue({
        toolCalls: [{
          name: "task_create",
          arguments: { kind: "message", text: "water the plants", delay_seconds: 3600 }
        }]
      })
      llm.script(() => ({ content: "scheduled" }))
      yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "remind me to water the plants in an hour" })
      yield* waitForText(fake, "scheduled")
      const created = JSON.parse(String(llm.completions()[1]!.body.messages.find((m) => m.role === "tool")!.content))
      const id: string = created.result.id
      expect(id).toMatch(/\S+/)

      fake.pushText({ chatId: 42, userId: 42, text: "/tasks" })
      const listed = yield* waitForText(fake, /^Active tasks \(1\):/)
      expect(listed.visibleText).toContain(id)
      fake.pushText({ chatId: 42, userId: 42, text: `/tasks cancel ${id}` })
      yield* waitForText(fake, `Cancelled ${id}.`)
      fake.pushText({ chatId: 42, userId: 42, text: "/tasks" })
      yield* waitForText(fake, /^No active tasks\./)
      // Commands never reach the LLM.
      expect(llm.completions()).toHaveLength(2)
    }))

  it.scopedLive("/stop cancels a long turn within a second", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.enqueue({ delayMs: 20_000 })
      yield* startDaemon(fake, llm)
      fake.pushText({ chatId: 42, userId: 42, text: "think very hard" })
      yield* Effect.promise(() => llm.waitFor((f) => f.completions().length === 1, 5_000))
      const started = Date.now()
      fake.pushText({ chatId: 42, userId: 42, text: "/stop" })
      yield* waitForText(fake, "Stopped.", 2_000)
      expect(Date.now() - started).toBeLessThan(1_000)
      // The model request was really cancelled.
      yield* Effect.promise(() => llm.waitFor((f) => f.completions()[0]!.aborted, 1_000))
      fake.pushText({ chatId: 42, userId: 42, text: "/stop" })
      yield* waitForText(fake, /^Nothing to stop/)
      fake.pushText({ chatId: 42, userId: 42, text: "next" })
      yield* waitForText(fake, "echo: next")
    }))
})
