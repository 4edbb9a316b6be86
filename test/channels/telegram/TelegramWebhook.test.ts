import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort } from "../../support/Daemon.ts"
import { FakeLlm } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { startDaemon, texts, waitForText } from "./harness.ts"

const secret = "s3cret-Token_for-tests"

const post = (port: number, body: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/telegram/hook`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    }).then((res) => res.status)
  )

const orClosed = <E>(status: Effect.Effect<number, E>) =>
  Effect.catchAllCause(status, () => Effect.succeed("closed" as const))

const textUpdate = (updateId: number, text: string) => ({
  update_id: updateId,
  message: {
    message_id: updateId,
    date: 0,
    chat: { id: 42, type: "private", first_name: "Ann" },
    from: { id: 42, is_bot: false, first_name: "Ann" },
    text
  }
})

describe("Telegram webhook", () => {
  it.scopedLive("sets the webhook with its secret, rejects a wrong secret, and answers a redelivered update once", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make({ latencyMs: 100 })
      const port = yield* Effect.promise(freePort)
      const h = yield* startDaemon(fake, llm, {
        telegram: { mode: "webhook", webhook_url: "https://bot.example.com/telegram/hook", webhook_secret: secret },
        config: { http: { enabled: true, port } }
      })
      yield* fake.waitForEffect((f) => f.webhook !== undefined)
      expect(fake.webhook).toMatchObject({ url: "https://bot.example.com/telegram/hook", secret_token: secret })
      expect(fake.callsOf("setWebhook")[0]!.params.drop_pending_updates).toBeUndefined()

      expect(yield* post(port, textUpdate(500, "forged"))).toBe(401)
      expect(yield* post(port, textUpdate(500, "forged"), { "x-telegram-bot-api-secret-token": "wrong" })).toBe(401)
      expect(h.logs.some((l) => l.includes("without the right secret token"))).toBe(true)

      const headers = { "x-telegram-bot-api-secret-token": secret }
      expect(yield* post(port, textUpdate(501, "hello by webhook"), headers)).toBe(200)
      // Telegram did not get our 200 in time and sends the same update again.
      expect(yield* post(port, textUpdate(501, "hello by webhook"), headers)).toBe(200)
      yield* waitForText(fake, "echo: hello by webhook")
      expect(yield* post(port, textUpdate(501, "hello by webhook"), headers)).toBe(200)
      // A redelivery would be answered before the next update is.
      expect(yield* post(port, textUpdate(510, "and then?"), headers)).toBe(200)
      yield* waitForText(fake, "echo: and then?")
      expect(texts(fake.sent)).toEqual(["echo: hello by webhook", "echo: and then?"])
      expect(llm.completions()).toHaveLength(2)
      expect(fake.callsOf("getUpdates")).toHaveLength(0)

      // Commands are answered once too, even when re-posted.
      expect(yield* post(port, textUpdate(502, "/help"), headers)).toBe(200)
      expect(yield* post(port, textUpdate(502, "/help"), headers)).toBe(200)
      yield* waitForText(fake, /\/reset/)
      expect(yield* post(port, textUpdate(511, "one more"), headers)).toBe(200)
      yield* waitForText(fake, "echo: one more")
      expect(fake.sent).toHaveLength(4)
      expect(texts(fake.sent).filter((t) => /\/reset/.test(t))).toHaveLength(1)

      // Anything Telegram may send is taken without an error status.
      expect(yield* post(port, { update_id: 503, edited_message: { message_id: 1 } }, headers)).toBe(200)
      expect(yield* post(port, { nonsense: true }, headers)).toBe(200)
    }))

  it.scopedLive("without webhook_secret a secret derived from the token is used", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const port = yield* Effect.promise(freePort)
      yield* startDaemon(fake, llm, {
        telegram: { mode: "webhook", webhook_url: "https://bot.example.com/telegram/hook" },
        config: { http: { enabled: true, port } }
      })
      yield* fake.waitForEffect((f) => f.webhook !== undefined)
      const derived = fake.webhook!.secret_token!
      expect(derived).toMatch(/^[A-Za-z0-9_-]{32,}$/)
      expect(derived).not.toContain(fake.token.split(":")[1]!)
      expect(yield* post(port, textUpdate(1, "hi"))).toBe(401)
      expect(yield* post(port, textUpdate(1, "hi"), { "x-telegram-bot-api-secret-token": derived })).toBe(200)
      yield* waitForText(fake, "echo: hi")
    }))

  it.scopedLive("a body over the limit is refused with 413 before it is parsed; rejections are logged at a bounded rate", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const port = yield* Effect.promise(freePort)
      const h = yield* startDaemon(fake, llm, {
        telegram: { mode: "webhook", webhook_url: "https://bot.example.com/telegram/hook", webhook_secret: secret },
        config: { http: { enabled: true, port } }
      })
      yield* fake.waitForEffect((f) => f.webhook !== undefined)
      const headers = { "x-telegram-bot-api-secret-token": secret }
      const huge = { ...textUpdate(600, "big"), padding: "x".repeat(5 * 1024 * 1024) }
      // The server may answer 413 and close while the client is still sending: either shows the refusal.
      expect(yield* orClosed(post(port, huge, headers))).toBeOneOf([413, "closed"])
      // Without a length (chunked), reading stops at the limit.
      const chunked = yield* orClosed(Effect.tryPromise(() =>
        fetch(`http://127.0.0.1:${port}/telegram/hook`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: new ReadableStream({
            start(controller) {
              for (let i = 0; i < 40; i++) controller.enqueue(new TextEncoder().encode("x".repeat(64 * 1024)))
              controller.close()
            }
          }),
          duplex: "half"
        } as RequestInit).then((res) => res.status)
      ))
      expect(chunked).toBeOneOf([413, "closed"])

      for (let i = 0; i < 200; i++) expect(yield* post(port, textUpdate(700 + i, "forged"))).toBe(401)
      const rejections = h.logs.filter((l) => l.includes("webhook requests rejected"))
      expect(rejections.length).toBeLessThanOrEqual(3)
      expect(rejections.some((l) => l.includes("without the right secret token"))).toBe(true)
      expect(rejections.some((l) => l.includes("body over 1048576 bytes"))).toBe(true)

      expect(yield* post(port, textUpdate(601, "still fine"), headers)).toBe(200)
      yield* waitForText(fake, "echo: still fine")
    }))
})
