import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Bot, GrammyError, HttpError } from "grammy"
import { FakeTelegram, type FakeTelegramServer, makeFakeTelegram, startFakeTelegram } from "./FakeTelegram.ts"

const botFor = (fake: FakeTelegramServer, token = fake.token) => new Bot(token, { client: { apiRoot: fake.url } })

/** The GrammyError a call fails with (fails the test if it succeeds). */
const failure = (call: () => Promise<unknown>): Effect.Effect<GrammyError> =>
  Effect.promise(() =>
    call().then(
      (value) => {
        throw new Error(`expected a failure, got ${JSON.stringify(value)}`)
      },
      (error: unknown) => {
        if (error instanceof GrammyError) return error
        throw error
      }
    )
  )

const post = (fake: FakeTelegramServer, method: string, body: string, type: string) =>
  fetch(`${fake.url}/bot${fake.token}/${method}`, { method: "POST", body, headers: { "content-type": type } })
    .then(async (res) => ({ status: res.status, json: (await res.json()) as Record<string, unknown> }))

describe("FakeTelegram", () => {
  it.scoped("answers getMe with the configured username and checks the token", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram({ username: "my_bot" })
      const me = yield* Effect.promise(() => botFor(fake).api.getMe())
      expect(me.username).toBe("my_bot")
      const wrong = yield* failure(() => botFor(fake, "1:wrong").api.getMe())
      expect([wrong.error_code, wrong.description]).toEqual([401, "Unauthorized"])
    }))

  it.scoped("answers 404 to unknown methods, and parses form bodies too", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const unknown = yield* Effect.promise(() => post(fake, "noSuchMethod", "{}", "application/json"))
      expect(unknown).toEqual({ status: 404, json: { ok: false, error_code: 404, description: "Not Found" } })
      const form = yield* Effect.promise(() =>
        post(
          fake,
          "sendMessage",
          "chat_id=5&text=hi%20there&reply_parameters=%7B%22message_id%22%3A3%7D",
          "application/x-www-form-urlencoded"
        )
      )
      expect(form.status).toBe(200)
      expect(fake.sent[0]).toMatchObject({ chat_id: 5, text: "hi there", reply_to_message_id: 3 })
    }))

  describe("sendMessage validation", () => {
    const rejects = (text: string, description: string, parse_mode: "HTML" | undefined = "HTML") =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram({ floodLimits: false })
        const options = parse_mode === undefined ? {} : { parse_mode }
        const error = yield* failure(() => botFor(fake).api.sendMessage(1, text, options))
        expect([error.error_code, error.description]).toEqual([400, description])
        expect(fake.sent).toEqual([])
      })

    it.scoped("rejects unsupported tags such as <p> and <br>", () =>
      Effect.gen(function*() {
        yield* rejects("<p>x</p>", "Bad Request: can't parse entities: Unsupported start tag \"p\" at byte offset 0")
        yield* rejects("é <br>", "Bad Request: can't parse entities: Unsupported start tag \"br\" at byte offset 3")
      }))

    it.scoped("rejects unclosed and mis-nested tags", () =>
      Effect.gen(function*() {
        yield* rejects(
          "<b>bold",
          "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""
        )
        yield* rejects(
          "<b><i>x</b></i>",
          "Bad Request: can't parse entities: Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\""
        )
        yield* rejects("x</b>", "Bad Request: can't parse entities: Unexpected end tag at byte offset 1")
        yield* rejects(
          "<span>x</span>",
          "Bad Request: can't parse entities: Tag \"span\" must have class \"tg-spoiler\" at byte offset 0"
        )
      }))

    it.scoped("rejects a bare < and unknown named entities", () =>
      Effect.gen(function*() {
        yield* rejects("a < b", "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset 2")
        yield* rejects("a <", "Bad Request: can't parse entities: Unclosed start tag at byte offset 2")
        yield* rejects(
          "a&nbsp;b",
          "Bad Request: can't parse entities: Unsupported HTML entity \"&nbsp;\" at byte offset 1"
        )
      }))

    it.scoped("measures the text after parsing and trimming, in UTF-16 code units", () =>
      Effect.gen(function*() {
        yield* rejects("x".repeat(4097), "Bad Request: message is too long")
        yield* rejects("😀".repeat(2049), "Bad Request: message is too long", undefined)
        yield* rejects("", "Bad Request: message text is empty")
        yield* rejects("  <b> \n </b> ", "Bad Request: message text is empty")
        const fake = yield* makeFakeTelegram({ floodLimits: false })
        const api = botFor(fake).api
        yield* Effect.promise(() => api.sendMessage(1, `<b>${"x".repeat(4096)}</b>`, { parse_mode: "HTML" }))
        yield* Effect.promise(() => api.sendMessage(1, `  ${"&lt;".repeat(4096)}\n`, { parse_mode: "HTML" }))
        yield* Effect.promise(() => api.sendMessage(1, "<b>raw tags count</b> without parse_mode"))
        expect(fake.sent.map((s) => s.visibleText.length)).toEqual([4096, 4096, 40])
      }))

    it.scoped("accepts < > & as entities in text and code, and decodes them", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const html = "1 &lt; 2 &amp;&amp; 3 &gt; 2 &quot;q&quot; &#128512;&#x41; a > b & c " +
          "<pre><code class=\"language-ts\">a &lt; b</code></pre> <a href=\"https://x.org/?a=1&amp;b=2\">l</a>" +
          "<span class=\"tg-spoiler\">s</span><tg-spoiler>t</tg-spoiler><blockquote expandable>q</blockquote>"
        const message = yield* Effect.promise(() => botFor(fake).api.sendMessage(3, html, { parse_mode: "HTML" }))
        const visible = "1 < 2 && 3 > 2 \"q\" 😀A a > b & c a < b lstq"
        expect(message.text).toBe(visible)
        expect(fake.sent[0]).toMatchObject({ chat_id: 3, text: html, parse_mode: "HTML", visibleText: visible })
      }))

    it.scoped("requires chat_id and records replies and forum topics", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const missing = yield* Effect.promise(() => post(fake, "sendMessage", "{\"text\":\"x\"}", "application/json"))
        expect(missing.json).toEqual({ ok: false, error_code: 400, description: "Bad Request: chat_id is empty" })
        const asked = fake.pushText({ chatId: -1001234, userId: 9, text: "question", threadId: 77 })
        const api = botFor(fake).api
        const askedId = asked.message!.message_id
        const sent = yield* Effect.promise(() =>
          api.sendMessage(-1001234, "answer", { reply_parameters: { message_id: askedId }, message_thread_id: 77 })
        )
        expect(sent.reply_to_message?.message_id).toBe(askedId)
        expect(sent.message_id).toBeGreaterThan(askedId)
        expect(fake.sent[0]).toMatchObject({ reply_to_message_id: askedId, message_thread_id: 77 })
        expect(fake.callsOf("sendMessage").map((c) => c.status)).toEqual([400, 200])
      }))
  })

  describe("flood limits", () => {
    it.scoped("a private chat gets a burst of 3, then 429 with retry_after until the ban ends", () =>
      Effect.gen(function*() {
        let now = 1_000_000
        const fake = yield* makeFakeTelegram({ now: () => now })
        const api = botFor(fake).api
        for (let i = 0; i < 3; i++) yield* Effect.promise(() => api.sendMessage(10, `m${i}`))
        const limited = yield* failure(() => api.sendMessage(10, "too fast"))
        expect([limited.error_code, limited.description, limited.parameters.retry_after]).toEqual([
          429,
          "Too Many Requests: retry after 1",
          1
        ])
        // Another chat is not affected.
        yield* Effect.promise(() => api.sendMessage(11, "other chat"))
        // Retrying inside the ban stays 429 and does not extend it.
        now += 500
        const again = yield* failure(() => api.sendMessage(10, "still too fast"))
        expect(again.parameters.retry_after).toBe(1)
        now += 500
        yield* Effect.promise(() => api.sendMessage(10, "after the ban"))
        expect(fake.sent.map((s) => s.text)).toEqual(["m0", "m1", "m2", "other chat", "after the ban"])
      }))

    it.scoped("a group gets a burst of 3, then 20 messages a minute; edits count too", () =>
      Effect.gen(function*() {
        let now = 5_000_000
        const fake = yield* makeFakeTelegram({ now: () => now })
        const api = botFor(fake).api
        const first = yield* Effect.promise(() => api.sendMessage(-100, "m0"))
        yield* Effect.promise(() => api.sendMessage(-100, "m1"))
        yield* Effect.promise(() => api.editMessageText(-100, first.message_id, "edited"))
        const limited = yield* failure(() => api.sendMessage(-100, "m2"))
        expect([limited.error_code, limited.parameters.retry_after]).toEqual([429, 3])
        now += 3_000
        yield* Effect.promise(() => api.sendMessage(-100, "m2"))
        // Over a minute, 20 more messages fit, one every 3 s.
        for (let i = 3; i < 23; i++) {
          now += 3_000
          yield* Effect.promise(() => api.sendMessage(-100, `m${i}`))
        }
        expect(fake.sent.length).toBe(23)
      }))

    it.scoped("all chats together get a burst of 30, then 30 a second", () =>
      Effect.gen(function*() {
        let now = 7_000_000
        const fake = yield* makeFakeTelegram({ now: () => now })
        const api = botFor(fake).api
        for (let chat = 1; chat <= 30; chat++) yield* Effect.promise(() => api.sendMessage(chat, "hi"))
        expect((yield* failure(() => api.sendMessage(31, "hi"))).error_code).toBe(429)
        now += 1_000
        for (let chat = 32; chat <= 61; chat++) yield* Effect.promise(() => api.sendMessage(chat, "hi"))
        expect(fake.sent.length).toBe(60)
      }))

    it.scoped("limits can be changed or disabled", () =>
      Effect.gen(function*() {
        const tight = yield* makeFakeTelegram({ floodLimits: { privateBurst: 1 } })
        yield* Effect.promise(() => botFor(tight).api.sendMessage(1, "a"))
        expect((yield* failure(() => botFor(tight).api.sendMessage(1, "b"))).error_code).toBe(429)
        const off = yield* makeFakeTelegram({ floodLimits: false })
        for (let i = 0; i < 50; i++) yield* Effect.promise(() => botFor(off).api.sendMessage(1, `m${i}`))
        expect(off.sent.length).toBe(50)
      }))
  })

  describe("fault injection", () => {
    it.scoped("failNext answers the given errors, then the method works again", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        fake.failNext("sendMessage", { status: 429, retryAfter: 1, times: 2 })
        fake.failNext("sendMessage", { status: 403 })
        const first = yield* failure(() => api.sendMessage(1, "x"))
        expect([first.error_code, first.description, first.parameters.retry_after]).toEqual([
          429,
          "Too Many Requests: retry after 1",
          1
        ])
        expect((yield* failure(() => api.sendMessage(1, "x"))).error_code).toBe(429)
        expect((yield* failure(() => api.sendMessage(1, "x"))).description).toBe(
          "Forbidden: bot was blocked by the user"
        )
        yield* Effect.promise(() => api.sendMessage(1, "x"))
        expect(fake.sent.length).toBe(1)
        expect(fake.callsOf("sendMessage").map((c) => c.status)).toEqual([429, 429, 403, 200])

        fake.failNext("getUpdates", { status: 409 })
        expect((yield* failure(() => api.getUpdates())).description).toMatch(/^Conflict: terminated by other/)
        fake.failNext("getMe", { status: 500 })
        expect((yield* failure(() => api.getMe())).error_code).toBe(500)
        fake.failNext("getMe", { status: 502, rawBody: "<html><body>502 Bad Gateway</body></html>" })
        const badGateway = yield* Effect.promise(() => api.getMe().then(() => undefined, (e: unknown) => e))
        expect(badGateway).toBeInstanceOf(HttpError)
      }))

    it.scopedLive("hangNext never answers, and closing the fake drops the request", () =>
      Effect.gen(function*() {
        const fake = yield* Effect.promise(() => startFakeTelegram())
        const api = botFor(fake).api
        fake.hangNext("sendMessage")
        let settled = false
        const hanging = api.sendMessage(1, "lost?").finally(() => (settled = true)).catch((e: unknown) => e)
        yield* Effect.promise(() => fake.waitFor((f) => f.calls.length === 1, 2000))
        // A later request is answered; the hanging one still is not.
        yield* Effect.promise(() => api.sendMessage(1, "next one"))
        expect(settled).toBe(false)
        expect(fake.sent.map((s) => s.text)).toEqual(["next one"])
        yield* Effect.promise(() => fake.close())
        expect(yield* Effect.promise(() => hanging)).toBeInstanceOf(HttpError)
      }))

    it.live("waitFor times out with a readable error", () =>
      Effect.gen(function*() {
        const fake = yield* Effect.promise(() => startFakeTelegram())
        const error = yield* Effect.flip(fake.waitForSentEffect(2, 100))
        expect(error.message).toMatch(/waitForSent\(2\).*timed out after 100 ms \(0 sent/)
        yield* Effect.promise(() => fake.close())
      }))
  })

  describe("updates", () => {
    it.scoped("getUpdates returns pending updates and an offset confirms earlier ones", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        const a = fake.pushText({ chatId: 1, userId: 1, text: "/start" })
        const b = fake.pushText({ chatId: -5, userId: 2, text: "hi @minibot_test_bot", username: "bob" })
        const c = fake.pushUpdate({ edited_message: { message_id: 1, date: 0, chat: { id: 1, type: "private" } } })
        expect([a.update_id, b.update_id, c.update_id]).toEqual([1, 2, 3])
        expect(a.message?.entities).toEqual([{ type: "bot_command", offset: 0, length: 6 }])
        expect(b.message).toMatchObject({ chat: { id: -5, type: "group" }, from: { id: 2, username: "bob" } })

        expect((yield* Effect.promise(() => api.getUpdates())).map((u) => u.update_id)).toEqual([1, 2, 3])
        // Not confirmed yet: delivered again.
        expect((yield* Effect.promise(() => api.getUpdates({ limit: 1 }))).map((u) => u.update_id)).toEqual([1])
        expect((yield* Effect.promise(() => api.getUpdates({ offset: 2 }))).map((u) => u.update_id)).toEqual([2, 3])
        expect(fake.pendingUpdates.map((u) => u.update_id)).toEqual([2, 3])
        expect(yield* Effect.promise(() => api.getUpdates({ offset: 4 }))).toEqual([])
        expect(fake.pendingUpdates).toEqual([])
        // update_ids keep increasing after confirmation; gaps are allowed.
        expect(fake.pushUpdate({ update_id: 10, message: {} }).update_id).toBe(10)
        expect(fake.pushText({ chatId: 1, userId: 1, text: "x" }).update_id).toBe(11)
      }))

    it.scopedLive("a long poll wakes up on pushUpdate, and times out with an empty list", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        const started = Date.now()
        const poll = api.getUpdates({ timeout: 20 })
        yield* Effect.promise(() => fake.waitFor((f) => f.calls.length === 1, 2000))
        yield* Effect.sleep("100 millis")
        fake.pushText({ chatId: 1, userId: 1, text: "wake up" })
        const updates = yield* Effect.promise(() => poll)
        expect(updates.map((u) => u.message?.text)).toEqual(["wake up"])
        expect(Date.now() - started).toBeLessThan(5000)

        const emptyStart = Date.now()
        expect(yield* Effect.promise(() => api.getUpdates({ offset: updates[0]!.update_id + 1, timeout: 1 }))).toEqual(
          []
        )
        expect(Date.now() - emptyStart).toBeGreaterThanOrEqual(900)
      }))

    it.scopedLive("a second poller terminates the first with 409", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        const first = api.getUpdates({ timeout: 20 }).then(() => undefined, (e: GrammyError) => e)
        yield* Effect.promise(() => fake.waitFor((f) => f.calls.length === 1, 2000))
        const second = api.getUpdates({ timeout: 20 })
        const error = (yield* Effect.promise(() => first))!
        expect([error.error_code, error.description]).toEqual([
          409,
          "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
        ])
        fake.pushText({ chatId: 1, userId: 1, text: "for the second" })
        expect((yield* Effect.promise(() => second)).length).toBe(1)
      }))

    it.scoped("allowed_updates filters kinds; reactions are opt-in", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        fake.pushUpdate({ message_reaction: { chat: { id: 1 } } })
        fake.pushText({ chatId: 1, userId: 1, text: "m" })
        fake.pushUpdate({ callback_query: { id: "q" } })
        expect((yield* Effect.promise(() => api.getUpdates())).map((u) => Object.keys(u)[0])).toEqual([
          "message",
          "callback_query"
        ])
        expect((yield* Effect.promise(() => api.getUpdates({ allowed_updates: ["message"] }))).length).toBe(1)
      }))

    it.scoped("a webhook blocks getUpdates until deleteWebhook", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        const insecure = yield* failure(() => api.setWebhook("http://example.com/hook"))
        expect(insecure.description).toBe("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        expect((yield* failure(() => api.setWebhook("https://example.com:3000/hook"))).error_code).toBe(400)
        yield* Effect.promise(() => api.setWebhook("https://example.com/hook", { secret_token: "s3cret_-" }))
        fake.pushText({ chatId: 1, userId: 1, text: "kept" })
        const info = yield* Effect.promise(() => api.getWebhookInfo())
        expect(info).toMatchObject({ url: "https://example.com/hook", pending_update_count: 1 })
        expect(fake.webhook?.secret_token).toBe("s3cret_-")
        const conflict = yield* failure(() => api.getUpdates())
        expect([conflict.error_code, conflict.description]).toEqual([
          409,
          "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
        ])
        yield* Effect.promise(() => api.deleteWebhook())
        expect((yield* Effect.promise(() => api.getUpdates())).length).toBe(1)
        yield* Effect.promise(() => api.deleteWebhook({ drop_pending_updates: true }))
        expect(fake.pendingUpdates).toEqual([])
      }))
  })

  describe("other methods", () => {
    it.scoped("commands are stored per scope and validated", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        const commands = [{ command: "reset", description: "Forget this chat" }]
        yield* Effect.promise(() => api.setMyCommands(commands))
        expect(yield* Effect.promise(() => api.getMyCommands())).toEqual(commands)
        expect(yield* Effect.promise(() => api.getMyCommands({ scope: { type: "all_group_chats" } }))).toEqual([])
        const bad = yield* failure(() => api.setMyCommands([{ command: "Bad-Name", description: "x" }]))
        expect(bad.description).toBe("Bad Request: BOT_COMMAND_INVALID")
        yield* Effect.promise(() => api.deleteMyCommands())
        expect(yield* Effect.promise(() => api.getMyCommands())).toEqual([])
        expect(fake.callsOf("setMyCommands").length).toBe(2)
      }))

    it.scoped("sendChatAction checks the action", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        expect(yield* Effect.promise(() => api.sendChatAction(1, "typing"))).toBe(true)
        const bad = yield* failure(() => api.sendChatAction(1, "dancing" as "typing"))
        expect(bad.description).toBe("Bad Request: wrong parameter action in request")
      }))

    it.scoped("editMessageText edits a sent message and refuses a no-op edit", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        const sent = yield* Effect.promise(() => api.sendMessage(1, "draft"))
        const edited = yield* Effect.promise(() =>
          api.editMessageText(1, sent.message_id, "<b>final</b>", { parse_mode: "HTML" })
        )
        expect(edited).toMatchObject({ message_id: sent.message_id, text: "final" })
        expect(fake.sent[0]).toMatchObject({ text: "<b>final</b>", visibleText: "final", edits: 1 })
        const same = yield* failure(() =>
          api.editMessageText(1, sent.message_id, "<b>final</b>", { parse_mode: "HTML" })
        )
        expect(same.description).toMatch(/^Bad Request: message is not modified/)
        const missing = yield* failure(() => api.editMessageText(1, 999, "x"))
        expect(missing.description).toBe("Bad Request: message to edit not found")
        const badHtml = yield* failure(() => api.editMessageText(1, sent.message_id, "<i>x", { parse_mode: "HTML" }))
        expect(badHtml.description).toMatch(/^Bad Request: can't parse entities/)
      }))

    it.scoped("sendMessageDraft: private chats only, a non-zero draft id, 0 to 4096 characters after parsing", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        expect(yield* Effect.promise(() => api.sendMessageDraft(7, 5, "<b>Hel</b>lo", { parse_mode: "HTML" }))).toBe(
          true
        )
        expect(yield* Effect.promise(() => api.sendMessageDraft(7, 5, ""))).toBe(true) // "Thinking..."
        expect(fake.drafts.map((d) => [d.chat_id, d.draft_id, d.visibleText, d.parse_mode])).toEqual([
          [7, 5, "Hello", "HTML"],
          [7, 5, "", undefined]
        ])
        expect(fake.sent).toHaveLength(0) // a draft is not a message
        const group = yield* failure(() => api.sendMessageDraft(-100, 5, "hi"))
        expect(group.error_code).toBe(400)
        const zero = yield* failure(() => api.sendMessageDraft(7, 0, "hi"))
        expect(zero.description).toMatch(/draft_id.*non-zero/)
        const long = yield* failure(() => api.sendMessageDraft(7, 5, "x".repeat(4097)))
        expect(long.description).toBe("Bad Request: message is too long")
        const unclosed = yield* failure(() => api.sendMessageDraft(7, 5, "<pre>code", { parse_mode: "HTML" }))
        expect(unclosed.description).toMatch(/^Bad Request: can't parse entities/)
        expect(fake.drafts).toHaveLength(2)
      }))

    it.scoped("sendMessageDraft counts against the chat's flood limit like a message", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram({ now: () => 1_000_000 })
        const api = botFor(fake).api
        for (let i = 0; i < 3; i++) yield* Effect.promise(() => api.sendMessageDraft(7, 1, `d${i}`))
        const limited = yield* failure(() => api.sendMessage(7, "too fast"))
        expect([limited.error_code, limited.parameters.retry_after]).toEqual([429, 1])
      }))

    it.scoped("withoutDrafts emulates a Bot API server older than 9.5: 404 method not found", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram({ withoutDrafts: true })
        const old = yield* failure(() => botFor(fake).api.sendMessageDraft(7, 1, "hi"))
        expect([old.error_code, old.description]).toEqual([404, "Not Found: method not found"])
      }))

    it.scoped("deleteMessage removes a sent message: it can no longer be edited", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        const sent = yield* Effect.promise(() => api.sendMessage(1, "placeholder"))
        expect(yield* Effect.promise(() => api.deleteMessage(1, sent.message_id))).toBe(true)
        expect(fake.deleted).toEqual([{ chat_id: 1, message_id: sent.message_id }])
        const edit = yield* failure(() => api.editMessageText(1, sent.message_id, "x"))
        expect(edit.description).toBe("Bad Request: message to edit not found")
        const again = yield* failure(() => api.deleteMessage(1, sent.message_id))
        expect(again.description).toBe("Bad Request: message to delete not found")
      }))

    it.effect("is available as a scoped layer", () =>
      Effect.gen(function*() {
        const fake = yield* FakeTelegram
        const me = yield* Effect.promise(() => botFor(fake).api.getMe())
        expect(me.username).toBe("minibot_test_bot")
      }).pipe(Effect.provide(FakeTelegram.layer())))

    it.scopedLive("waitForSentEffect resolves when messages arrive", () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const api = botFor(fake).api
        setTimeout(() => void api.sendMessage(1, "one").then(() => api.sendMessage(2, "two")), 50)
        const sent = yield* fake.waitForSentEffect(2, 3000)
        expect(sent.map((s) => s.text)).toEqual(["one", "two"])
      }))
  })
})
