/**
 * What `GET /api/status` says of the Telegram channel while getUpdates fails (a 429 with its
 * back-off, 500s) and after it recovers, and a pause that outlives a restart of the daemon, all
 * with long polling against the fake Bot API.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { startDaemon, waitForText } from "../channels/telegram/harness.ts"
import { freePort } from "../support/Daemon.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"
import { eventually as until } from "../support/Wait.ts"
import { call, eventually, started, token } from "./ApiKit.ts"

/** Reads /api/events until `count` channel.state events came; their data. `opened` once the stream is live. */
const channelStates = (port: number, count: number, opened: Deferred.Deferred<void>) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const res = await fetch(`http://127.0.0.1:${port}/api/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal
    })
    const reader = res.body!.getReader()
    let text = ""
    try {
      while ((text.match(/event: channel\.state/g) ?? []).length < count) {
        const { done, value } = await reader.read()
        if (done) break
        Deferred.unsafeDone(opened, Exit.void)
        text += new TextDecoder().decode(value)
      }
    } finally {
      controller.abort()
    }
    return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)))
      .filter((d) => d.kind === "channel.state")
  })

const telegramStatus = (port: number) =>
  Effect.map(call(port, "GET", "/api/status", { token }), (reply) => reply.body.channels.telegram)

const when = (port: number, state: string) =>
  Effect.map(
    eventually(call(port, "GET", "/api/status", { token }), (r) => r.body.channels.telegram.state === state, 15_000),
    (reply) => reply.body.channels.telegram
  )

describe("HTTP API: channel health", () => {
  it.scopedLive("a 429 on getUpdates shows the channel failing with its back-off, then running again", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      fake.pushText({ chatId: 42, userId: 42, text: "before" })
      yield* waitForText(fake, "echo: before")
      const healthy = yield* telegramStatus(port)
      expect(healthy).toMatchObject({
        enabled: true,
        state: "running",
        mode: "long_polling",
        lastError: null,
        retryAfterUntil: null
      })
      expect(healthy.lastPollAgeSeconds).toBeGreaterThanOrEqual(0)

      fake.failNext("getUpdates", { status: 429, retryAfter: 3 })
      const failing = yield* when(port, "failing")
      expect(failing.lastError.message).toContain("Too Many Requests: retry after 3")
      expect(failing.lastError.message).toContain("429")
      expect(failing.retryAfterUntil).toBe(failing.lastError.at + 3000)

      // Once Telegram answers again, the channel runs and takes the message sent meanwhile.
      fake.pushText({ chatId: 42, userId: 42, text: "during" })
      yield* waitForText(fake, "echo: during")
      const recovered = yield* when(port, "running")
      expect(recovered.retryAfterUntil).toBe(null)
      expect(recovered.lastError.message).toContain("429")
      expect(fake.sent.map((m) => m.visibleText)).toEqual(["echo: before", "echo: during"])
    }))

  it.scopedLive("500s on getUpdates show failing with the error, secrets masked, until polling works again", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      yield* when(port, "running")
      const opened = yield* Deferred.make<void>()
      const events = yield* Effect.fork(channelStates(port, 2, opened))
      yield* Deferred.await(opened)
      fake.failNext("getUpdates", {
        status: 500,
        description: `Internal Server Error: upstream said ${fake.token} and sk-llm-secret-key-123`,
        times: 8
      })
      const failing = yield* when(port, "failing")
      expect(failing.lastError.message).toContain("Internal Server Error")
      expect(failing.lastError.message).not.toContain(fake.token)
      expect(failing.lastError.message).not.toContain(fake.token.split(":")[1])
      expect(failing.lastError.message).not.toContain("sk-llm-secret-key-123")
      expect(failing.retryAfterUntil).toBe(null)

      const recovered = yield* when(port, "running")
      expect(recovered.lastError.message).toContain("500")
      // Subscribers heard of both changes, with the same masked error.
      const changes = yield* Fiber.join(events)
      expect(changes).toEqual([
        expect.objectContaining({ channel: "telegram", state: "failing", reason: failing.lastError.message }),
        expect.objectContaining({ channel: "telegram", state: "running", reason: "recovered" })
      ])
      fake.pushText({ chatId: 42, userId: 42, text: "after" })
      yield* waitForText(fake, "echo: after")
    }))

  it.scopedLive("webhook mode: a refused setWebhook shows failing until Telegram accepts it", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started({
        telegram: { mode: "webhook", webhook_url: "https://bot.example.com/telegram/hook" },
        prepare: (f) => f.failNext("setWebhook", { status: 502, description: "Bad Gateway", times: 30 })
      })
      const failing = yield* when(port, "failing")
      expect(failing).toMatchObject({ mode: "webhook", lastPollAgeSeconds: null })
      expect(failing.lastError.message).toContain("setWebhook failed (502): Bad Gateway")
      yield* Effect.promise(() => fake.waitFor((f) => f.webhook !== undefined, 20_000))
      expect(yield* when(port, "running")).toMatchObject({ mode: "webhook", lastPollAgeSeconds: null })
    }))

  it.scopedLive("a refused bot token shows failing with what to check, the token masked", () =>
    Effect.gen(function*() {
      const wrong = "123456789:AAwrong-token-wrong-token-wrong-token"
      const { port } = yield* started({ telegram: { bot_token: wrong } })
      const failing = yield* when(port, "failing")
      expect(failing.lastError.message).toContain("Telegram rejected the bot token")
      expect(failing.lastError.message).toContain("bot_token")
      expect(JSON.stringify(failing)).not.toContain("AAwrong-token")
    }))

  it.scopedLive("a paused channel stays paused across a restart; resumed, the message waiting is answered once", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const dataDir = tempDir("minibot-pause-")
      const daemon = (port: number) =>
        startDaemon(fake, llm, {
          dataDir,
          config: { http: { enabled: true, port, api_token: token } },
          llm: { api_key: "sk-llm-secret-key-123" }
        })

      yield* Effect.scoped(Effect.gen(function*() {
        const port = yield* Effect.promise(freePort)
        yield* daemon(port)
        fake.pushText({ chatId: 42, userId: 42, text: "before" })
        yield* waitForText(fake, "echo: before")
        const paused = yield* call(port, "POST", "/api/channels/telegram/pause", { token })
        expect(paused.body).toEqual({ channel: "telegram", state: "paused" })
      }))

      // Sent while the daemon is down: a poller that forgot the pause would take it at once.
      const waiting = fake.pushText({ chatId: 42, userId: 42, text: "while paused" })
      const pollsBefore = fake.callsOf("getUpdates").length
      const port = yield* Effect.promise(freePort)
      const h = yield* daemon(port)
      yield* until(() => h.logs.some((l) => l.includes("long polling paused")), "the poller to see the pause")
      expect(h.logs.some((l) => l.includes("still paused: telegram"))).toBe(true)
      expect((yield* telegramStatus(port)).state).toBe("paused")
      expect(fake.callsOf("getUpdates").length).toBe(pollsBefore)
      expect(fake.pendingUpdates.map((u) => u.update_id)).toEqual([waiting.update_id])
      expect(fake.sent.map((m) => m.visibleText)).toEqual(["echo: before"])

      const resumed = yield* call(port, "POST", "/api/channels/telegram/resume", { token })
      expect(resumed.body).toEqual({ channel: "telegram", state: "running" })
      yield* waitForText(fake, "echo: while paused")
      fake.pushText({ chatId: 42, userId: 42, text: "after" })
      yield* waitForText(fake, "echo: after")
      expect(fake.sent.map((m) => m.visibleText)).toEqual(["echo: before", "echo: while paused", "echo: after"])
      const rows = yield* h.sql<{ channel: string }>`SELECT channel FROM channel_pauses`
      expect(rows).toEqual([])
    }))
})
