/**
 * The control plane's HTTP API against the real `[http]` server of an in-process daemon on
 * loopback, with Telegram on the fake Bot API and the LLM on the fake OpenAI server.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit } from "effect"
import { Scheduler } from "../../src/scheduler/Scheduler.ts"
import { waitForText } from "../channels/telegram/harness.ts"
import { call, chat, eventually, started, token } from "./ApiKit.ts"

/** Reads `GET /api/events` until `done` holds for the events received; the events. */
const readEvents = (
  port: number,
  done: (events: ReadonlyArray<SseEvent>) => boolean,
  options: { lastEventId?: string; onOpen?: () => void } = {}
) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 10_000)
    const headers: Record<string, string> = { authorization: `Bearer ${token}` }
    if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId
    const res = await fetch(`http://127.0.0.1:${port}/api/events`, { headers, signal: controller.signal })
    const events: Array<SseEvent> = []
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let buffered = ""
    try {
      while (!done(events)) {
        const { done: ended, value } = await reader.read()
        if (ended) break
        // The first frame (a comment) says the stream is subscribed to the bus.
        options.onOpen?.()
        buffered += decoder.decode(value, { stream: true })
        let end: number
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const frame = buffered.slice(0, end)
          buffered = buffered.slice(end + 2)
          const fields = Object.fromEntries(
            frame.split("\n").filter((l) => !l.startsWith(":")).map((
              l
            ) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)])
          )
          if (fields.event !== undefined) {
            events.push({ id: fields.id!, event: fields.event, data: JSON.parse(fields.data!) })
          }
        }
      }
    } finally {
      clearTimeout(timer)
      controller.abort()
    }
    return { status: res.status, contentType: res.headers.get("content-type"), events }
  })

interface SseEvent {
  readonly id: string
  readonly event: string
  readonly data: any
}

describe("HTTP API", () => {
  it.scopedLive("401 without or with a wrong token, 200 with it; health stays open, metrics need the token", () =>
    Effect.gen(function*() {
      const { port } = yield* started()
      const missing = yield* call(port, "GET", "/api/status")
      expect(missing.status).toBe(401)
      expect(missing.body).toMatchObject({ _tag: "Unauthorized" })
      expect((yield* call(port, "GET", "/api/status", { token: "wrong" })).status).toBe(401)
      const ok = yield* call(port, "GET", "/api/status", { token })
      expect(ok.status).toBe(200)
      expect(ok.body).toMatchObject({ version: expect.any(String), channels: { telegram: { enabled: true } } })
      expect((yield* call(port, "GET", "/healthz")).status).toBe(200)
      expect((yield* call(port, "GET", "/readyz")).status).not.toBe(401)
      expect((yield* call(port, "GET", "/metrics")).status).toBe(401)
      expect((yield* call(port, "GET", "/metrics", { token })).status).toBe(200)
      expect((yield* call(port, "GET", "/api/docs")).status).toBe(401)
      const docs = yield* call(port, "GET", "/api/docs", { token })
      expect(docs.status).toBe(200)
      expect(docs.body).toContain("SwaggerUIBundle")
      expect(docs.body).not.toMatch(/<script[^>]+src=["']https?:/)
    }))

  it.scopedLive("public_metrics serves /metrics without the token", () =>
    Effect.gen(function*() {
      const { port } = yield* started({ http: { public_metrics: true } })
      expect((yield* call(port, "GET", "/metrics")).status).toBe(200)
      expect((yield* call(port, "GET", "/api/status")).status).toBe(401)
    }))

  it.scopedLive("the OpenAPI document lists the endpoints", () =>
    Effect.gen(function*() {
      const { port } = yield* started()
      const doc = yield* call(port, "GET", "/api/openapi.json", { token })
      expect(doc.status).toBe(200)
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining([
        "/api/status",
        "/api/conversations",
        "/api/conversations/{id}/messages",
        "/api/conversations/{id}/stop",
        "/api/conversations/{id}/reset",
        "/api/deliveries",
        "/api/schedules",
        "/api/schedules/{id}",
        "/api/schedules/{id}/run",
        "/api/schedules/{id}/pause",
        "/api/schedules/{id}/resume",
        "/api/schedules/{id}/runs",
        "/api/deliveries/{id}/resend",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/cancel",
        "/api/tasks/{id}/retry",
        "/api/notes",
        "/api/notes/{title}",
        "/api/channels/{name}/pause",
        "/api/channels/{name}/resume",
        "/api/pairing",
        "/api/pairing/approve",
        "/api/pairing/revoke",
        "/api/logs",
        "/api/config",
        "/api/events"
      ]))
      expect(Object.keys(doc.body.paths["/api/schedules/{id}"])).toEqual(
        expect.arrayContaining(["get", "patch", "delete"])
      )
      expect(doc.body.components.schemas).toHaveProperty("Conflict")
      expect(doc.body.security).toEqual([{ bearer: [] }])
      expect(doc.body.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" })
      expect(doc.body.components.schemas).toHaveProperty("Unauthorized")
      expect(Object.keys(doc.body.paths["/api/conversations/{id}/messages"])).toEqual(
        expect.arrayContaining(["get", "post"])
      )
    }))

  it.scopedLive("an injected message is answered in the chat, recorded in the ledger and the history", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      const injected = yield* call(port, "POST", `/api/conversations/${chat}/messages`, {
        token,
        body: { text: "hello from the operator" }
      })
      expect(injected.status).toBe(202)
      const messageId: string = injected.body.messageId
      expect(messageId).toMatch(/^api-/)
      yield* waitForText(fake, "echo: hello from the operator")

      const deliveries = yield* eventually(
        call(port, "GET", `/api/deliveries?conversation=${chat}&status=delivered`, { token }),
        (reply) => reply.body.items.length > 0
      )
      expect(deliveries.body.items).toEqual([
        expect.objectContaining({
          conversationId: chat,
          messageId,
          status: "delivered",
          reply: "echo: hello from the operator"
        })
      ])
      const conversations = yield* call(port, "GET", "/api/conversations", { token })
      expect(conversations.body.items).toEqual([
        expect.objectContaining({ id: chat, channel: "telegram", chatId: "42", messageCount: 2 })
      ])
      const messages = yield* call(port, "GET", `/api/conversations/${chat}/messages?limit=1`, { token })
      expect(messages.body.items.map((m: any) => [m.role, m.content])).toEqual([["user", "hello from the operator"]])
      const next = yield* call(port, "GET", `/api/conversations/${chat}/messages?cursor=${messages.body.nextCursor}`, {
        token
      })
      expect(next.body).toMatchObject({ items: [{ role: "assistant", content: "echo: hello from the operator" }] })
      expect(next.body.nextCursor).toBeNull()

      const asBot = yield* call(port, "POST", `/api/conversations/${chat}/messages`, {
        token,
        body: { text: "a word from the operator", as: "bot" }
      })
      expect(asBot.body).toMatchObject({ messageId: null, chunks: 1 })
      yield* waitForText(fake, "a word from the operator")

      const invalid = yield* call(port, "POST", "/api/conversations/nowhere/messages", { token, body: { text: "x" } })
      expect(invalid.status).toBe(400)
      expect(invalid.body).toMatchObject({ field: "id" })
      expect((yield* call(port, "POST", `/api/conversations/${chat}/messages`, { token, body: {} })).status).toBe(400)
    }))

  it.scopedLive("stop interrupts the running turn; reset forgets the conversation", () =>
    Effect.gen(function*() {
      const { fake, llm, port } = yield* started()
      yield* call(port, "POST", `/api/conversations/${chat}/messages`, { token, body: { text: "remember me" } })
      yield* waitForText(fake, "echo: remember me")
      llm.script(() => new Promise(() => {}))
      const before = llm.completions().length
      yield* call(port, "POST", `/api/conversations/${chat}/messages`, { token, body: { text: "think forever" } })
      yield* Effect.promise(() => llm.waitFor(() => llm.completions().length > before))
      const stop = yield* call(port, "POST", `/api/conversations/${chat}/stop`, { token })
      expect(stop.body).toEqual({ stopped: true })
      yield* waitForText(fake, /stopped/i)
      expect((yield* call(port, "POST", `/api/conversations/${chat}/stop`, { token })).body).toEqual({ stopped: false })
      const reset = yield* call(port, "POST", `/api/conversations/${chat}/reset`, { token })
      expect(reset.body.removedMessages).toBeGreaterThanOrEqual(2)
      const messages = yield* call(port, "GET", `/api/conversations/${chat}/messages`, { token })
      expect(messages.body.items).toEqual([])
    }))

  it.scopedLive("schedules are listed, shown and cancelled", () =>
    Effect.gen(function*() {
      const { h, port } = yield* started()
      const job = yield* h.use(Effect.flatMap(Scheduler, (scheduler) =>
        scheduler.schedule(
          { ownerId: "telegram:42", conversation: { channel: "telegram", chatId: "42" }, userId: "42" },
          { strategy: "message", payload: "drink water", delaySeconds: 3600 }
        )))
      const list = yield* call(port, "GET", "/api/schedules", { token })
      expect(list.body.items).toEqual([
        expect.objectContaining({ id: job.id, payload: "drink water", status: "pending" })
      ])
      expect((yield* call(port, "GET", `/api/schedules/${job.id}`, { token })).body).toMatchObject({ id: job.id })
      const cancelled = yield* call(port, "DELETE", `/api/schedules/${job.id}`, { token })
      expect(cancelled.body).toMatchObject({ id: job.id, status: "cancelled", nextRunAt: null })
      const pending = yield* call(port, "GET", "/api/schedules?status=pending", { token })
      expect(pending.body.items).toEqual([])
      expect((yield* call(port, "GET", "/api/schedules/nope", { token })).status).toBe(404)
    }))

  it.scopedLive("the config is returned with every secret masked", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      const config = yield* call(port, "GET", "/api/config", { token })
      expect(config.status).toBe(200)
      expect(config.body.http).toMatchObject({ enabled: true, port, api_token: "[redacted]" })
      expect(config.body.llm.api_key).toBe("[redacted]")
      expect(config.body.channels.telegram.bot_token).toBe("[redacted]")
      const text = JSON.stringify(config.body)
      for (const secret of [token, "sk-llm-secret-key-123", fake.token]) expect(text).not.toContain(secret)
    }))

  it.scopedLive("the event stream carries an injected message's events and resumes from Last-Event-ID", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      const opened = yield* Deferred.make<void>()
      const stream = yield* Effect.fork(
        readEvents(port, (events) => events.some((e) => e.event === "reply.sent"), {
          onOpen: () => Deferred.unsafeDone(opened, Exit.void)
        })
      )
      yield* Deferred.await(opened)
      yield* call(port, "POST", `/api/conversations/${chat}/messages`, { token, body: { text: "stream me" } })
      const first = yield* stream
      expect(first.contentType).toContain("text/event-stream")
      const kinds = first.events.map((e) => e.event)
      expect(kinds).toEqual(expect.arrayContaining(["inbound.received", "turn.started", "reply.sent"]))
      expect(first.events.find((e) => e.event === "turn.started")!.data).toMatchObject({ conversationId: chat })
      const inbound = first.events.find((e) => e.event === "inbound.received")!
      expect(inbound.data).toMatchObject({ kind: "inbound.received", conversationId: chat, id: Number(inbound.id) })
      yield* waitForText(fake, "echo: stream me")

      const resumed = yield* readEvents(
        port,
        (events) => events.some((e) => e.event === "reply.sent"),
        { lastEventId: inbound.id }
      )
      expect(resumed.events[0]!.event).not.toBe("inbound.received")
      expect(resumed.events.map((e) => e.id)).toEqual(
        first.events.filter((e) => Number(e.id) > Number(inbound.id)).map((e) => e.id)
      )
    }))
})
