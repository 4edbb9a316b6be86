/**
 * Pausing and resuming the Telegram channel over the API, with long polling against the fake Bot
 * API: a message sent while paused stays with Telegram, and is answered once after the resume.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit } from "effect"
import { waitForText } from "../channels/telegram/harness.ts"
import { call, started, token } from "./ApiKit.ts"

describe("HTTP API: channels", () => {
  it.scopedLive("a paused channel leaves messages with Telegram; resumed, each is answered once", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      fake.pushText({ chatId: 42, userId: 42, text: "before" })
      yield* waitForText(fake, "echo: before")

      const paused = yield* call(port, "POST", "/api/channels/telegram/pause", { token })
      expect(paused.body).toEqual({ channel: "telegram", state: "paused" })
      const status = yield* call(port, "GET", "/api/status", { token })
      expect(status.body.channels.telegram).toMatchObject({ enabled: true, state: "paused" })
      const again = yield* call(port, "POST", "/api/channels/telegram/pause", { token })
      expect(again.status).toBe(409)
      expect(again.body.message).toContain("already paused")

      const sent = fake.pushText({ chatId: 42, userId: 42, text: "while paused" })
      // A full round of polling would have taken it by now; still with Telegram.
      yield* call(port, "GET", "/api/status", { token })
      expect(fake.pendingUpdates.map((u) => u.update_id)).toEqual([sent.update_id])

      const resumed = yield* call(port, "POST", "/api/channels/telegram/resume", { token })
      expect(resumed.body).toEqual({ channel: "telegram", state: "running" })
      yield* waitForText(fake, "echo: while paused")
      fake.pushText({ chatId: 42, userId: 42, text: "after" })
      yield* waitForText(fake, "echo: after")
      expect(fake.sent.map((m) => m.visibleText)).toEqual(["echo: before", "echo: while paused", "echo: after"])
      expect((yield* call(port, "POST", "/api/channels/telegram/resume", { token })).status).toBe(409)
    }))

  it.scopedLive("pausing names what is wrong: an unknown channel, the console", () =>
    Effect.gen(function*() {
      const { port } = yield* started()
      const unknown = yield* call(port, "POST", "/api/channels/irc/pause", { token })
      expect(unknown.status).toBe(400)
      expect(JSON.stringify(unknown.body)).toContain("name")
      const consoleChannel = yield* call(port, "POST", "/api/channels/console/pause", { token })
      expect(consoleChannel.status).toBe(409)
      expect(consoleChannel.body.message).toContain("only telegram")
    }))

  it.scopedLive("channel.state events are streamed when the operator pauses and resumes", () =>
    Effect.gen(function*() {
      const { port } = yield* started()
      const opened = yield* Deferred.make<void>()
      const stream = yield* Effect.fork(Effect.promise(async () => {
        const controller = new AbortController()
        const res = await fetch(`http://127.0.0.1:${port}/api/events`, {
          headers: { authorization: `Bearer ${token}` },
          signal: controller.signal
        })
        const reader = res.body!.getReader()
        let text = ""
        try {
          while ((text.match(/event: channel\.state/g) ?? []).length < 2) {
            const { done, value } = await reader.read()
            if (done) break
            Deferred.unsafeDone(opened, Exit.void)
            text += new TextDecoder().decode(value)
          }
        } finally {
          controller.abort()
        }
        return text
      }))
      yield* Deferred.await(opened)
      yield* call(port, "POST", "/api/channels/telegram/pause", { token })
      yield* call(port, "POST", "/api/channels/telegram/resume", { token })
      const text = yield* stream
      const data = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)))
      expect(data.filter((d) => d.kind === "channel.state")).toEqual([
        expect.objectContaining({ channel: "telegram", state: "paused", conversationId: null }),
        expect.objectContaining({ channel: "telegram", state: "running", conversationId: null })
      ])
    }))
})
