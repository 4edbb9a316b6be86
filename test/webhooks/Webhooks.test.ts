/**
 * Outgoing webhooks in the in-process daemon (Telegram on the fake Bot API, the LLM on the fake
 * OpenAI server, real SQLite) against a receiver on loopback: what a receiver gets, how failures
 * are retried, what survives a restart, what the address policy refuses, and what the API shows.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHmac } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { freePort } from "../support/Daemon.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeFakeTelegram } from "../support/FakeTelegram.ts"
import { startDaemon, tempDir, waitForText } from "../support/Harness.ts"
import { eventually, pollUntil } from "../support/Wait.ts"

const token = "api-token-for-webhook-tests-0123"
const secret = "webhook-secret-for-tests-0123456789"

interface Received {
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly json: any
  /** The status the receiver answered. */
  readonly answered: number
}

/**
 * A webhook receiver on loopback: records every request and answers with the next status of
 * `script` (200 once it is used up). `stop` closes it; `start` listens again on the same port.
 */
const makeReceiver = (script: Array<number> = []) =>
  Effect.gen(function*() {
    const received: Array<Received> = []
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8")
        const answered = script.shift() ?? 200
        received.push({ headers: req.headers, body, json: JSON.parse(body), answered })
        res.writeHead(answered, { "content-type": "text/plain" }).end(answered >= 400 ? "receiver trouble" : "ok")
      })
    })
    let port = 0
    const start = Effect.async<void>((resume) => {
      server.listen(port, "127.0.0.1", () => {
        port = (server.address() as AddressInfo).port
        resume(Effect.void)
      })
    })
    const stop = Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
      server.closeAllConnections()
    })
    yield* start
    yield* Effect.addFinalizer(() => (server.listening ? stop : Effect.void))
    return {
      received,
      start,
      stop,
      get url() {
        return `http://127.0.0.1:${port}/hooks/minibot`
      }
    }
  })

const api = (port: number, path: string) =>
  Effect.promise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${token}` } })
    const text = await res.text()
    return {
      status: res.status,
      body: (res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text) as any
    }
  })

const daemon = (
  webhooks: ReadonlyArray<Record<string, unknown>>,
  options: { dataDir?: string; fake?: Effect.Effect.Success<ReturnType<typeof makeFakeTelegram>> } = {}
) =>
  Effect.gen(function*() {
    const fake = options.fake ?? (yield* makeFakeTelegram())
    const llm = yield* FakeLlm.make()
    const port = yield* Effect.promise(freePort)
    const h = yield* startDaemon(fake, llm, {
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      config: { http: { enabled: true, port, api_token: token }, webhooks }
    })
    return { fake, llm, port, h }
  })

const ofKind = (received: ReadonlyArray<Received>, kind: string) => received.filter((r) => r.json.kind === kind)

describe("outgoing webhooks", () => {
  it.scopedLive("each wanted event is POSTed as JSON with an id, a timestamp and a signature that verifies", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver()
      const { fake, port } = yield* daemon([{
        url: receiver.url,
        events: ["inbound.received", "reply.sent"],
        secret,
        allow_private_networks: true
      }])
      fake.pushText({ chatId: 42, userId: 42, text: "hello hooks" })
      yield* waitForText(fake, "echo: hello hooks")
      yield* eventually(() => ofKind(receiver.received, "reply.sent").length === 1, "the reply.sent webhook")
      yield* eventually(() => ofKind(receiver.received, "inbound.received").length === 1, "the inbound webhook")

      for (const request of receiver.received) {
        const timestamp = request.headers["x-minibot-timestamp"] as string
        const expected = createHmac("sha256", secret).update(`${timestamp}.${request.body}`).digest("hex")
        expect(request.headers["x-minibot-signature"]).toBe(`sha256=${expected}`)
        expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(300)
        expect(request.headers["content-type"]).toBe("application/json")
        expect(request.headers["x-minibot-event-id"]).toBe(request.json.id)
        expect(request.json).toMatchObject({ conversationId: "telegram:42", at: expect.any(Number) })
      }
      const [reply] = ofKind(receiver.received, "reply.sent")
      expect(reply!.json).toMatchObject({ kind: "reply.sent", chunks: 1, messageId: expect.any(String) })
      expect(reply!.headers["x-minibot-event"]).toBe("reply.sent")

      const targets = yield* api(port, "/api/webhooks")
      expect(targets.status).toBe(200)
      expect(targets.body.items).toEqual([
        expect.objectContaining({ url: receiver.url, configured: true, delivered: 2, failed: 0, pending: 0 })
      ])
      // Counters exist from the start; the secret is in neither the config view nor the metrics.
      const metrics = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } }).then((r) =>
          r.text()
        )
      )
      expect(metrics).toContain("minibot_webhooks_retried_total")
      expect(metrics).toContain("minibot_webhooks_failed_total")
      const openapi = yield* api(port, "/api/openapi.json")
      expect(Object.keys(openapi.body.paths)).toEqual(
        expect.arrayContaining(["/api/webhooks", "/api/webhooks/deliveries"])
      )
      const config = yield* api(port, "/api/config")
      expect(JSON.stringify(config.body)).not.toContain(secret)
      expect(config.body.webhooks[0].secret).toBe("[redacted]")
    }))

  it.scopedLive("a 500 is retried and the event is delivered once; a 4xx fails for good and shows in the API", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver([500, 200, 404])
      const { fake, h, port } = yield* daemon([{
        url: receiver.url,
        events: ["reply.sent"],
        secret,
        allow_private_networks: true
      }])
      fake.pushText({ chatId: 42, userId: 42, text: "first" })
      yield* eventually(() => receiver.received.length === 2, "the retried delivery")
      const [failedOnce, retried] = receiver.received
      expect([failedOnce!.answered, retried!.answered]).toEqual([500, 200])
      expect(retried!.headers["x-minibot-event-id"]).toBe(failedOnce!.headers["x-minibot-event-id"])
      expect(retried!.body).toBe(failedOnce!.body)

      // The next event meets a 404: recorded as failed, not retried.
      fake.pushText({ chatId: 42, userId: 42, text: "second" })
      const failed = yield* pollUntil(
        api(port, "/api/webhooks/deliveries?status=failed"),
        (r) => r.body.items.length === 1
      )
      expect(failed.body.items[0]).toMatchObject({
        url: receiver.url,
        kind: "reply.sent",
        status: "failed",
        attempts: 1,
        lastStatus: 404,
        lastError: expect.stringContaining("HTTP 404")
      })

      // A third event is delivered; the first was never sent again after its 200.
      fake.pushText({ chatId: 42, userId: 42, text: "third" })
      yield* eventually(() => receiver.received.length === 4, "the third event")
      const firstId = failedOnce!.headers["x-minibot-event-id"]
      expect(receiver.received.filter((r) => r.headers["x-minibot-event-id"] === firstId)).toHaveLength(2)
      const targets = yield* api(port, "/api/webhooks")
      expect(targets.body.items[0]).toMatchObject({
        delivered: 2,
        failed: 1,
        pending: 0,
        lastError: expect.stringContaining("HTTP 404")
      })
      const rows = yield* h.sql<{ n: number }>`SELECT COUNT(*) AS n FROM webhook_deliveries`
      expect(Number(rows[0]!.n)).toBe(3)
    }))

  it.scopedLive("events written while the receiver is down survive a restart and arrive afterwards", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver()
      const url = receiver.url
      yield* receiver.stop
      const dataDir = tempDir("minibot-webhooks-")
      const fake = yield* makeFakeTelegram()
      const webhooks = [{ url, events: ["reply.sent"], secret, allow_private_networks: true }]

      // First run: the reply goes out, its webhook cannot connect; then the daemon stops.
      yield* Effect.scoped(Effect.gen(function*() {
        const { port } = yield* daemon(webhooks, { dataDir, fake })
        fake.pushText({ chatId: 42, userId: 42, text: "while down" })
        yield* waitForText(fake, "echo: while down")
        const pending = yield* pollUntil(
          api(port, "/api/webhooks/deliveries?status=pending"),
          (r) => r.status === 200 && r.body.items[0]?.lastError != null
        )
        expect(pending.body.items).toEqual([expect.objectContaining({
          kind: "reply.sent",
          status: "pending",
          lastStatus: null,
          lastError: expect.stringContaining("ECONNREFUSED"),
          nextAttemptAt: expect.any(Number)
        })])
      }))
      expect(receiver.received).toHaveLength(0)

      // The receiver is back, and so is the daemon: the stored event arrives.
      yield* receiver.start
      const { port } = yield* daemon(webhooks, { dataDir, fake })
      yield* eventually(() => receiver.received.length === 1, "the event written before the restart", 20_000)
      expect(receiver.received[0]!.json).toMatchObject({ kind: "reply.sent", conversationId: "telegram:42" })
      const targets = yield* pollUntil(api(port, "/api/webhooks"), (r) => r.body.items[0]?.delivered === 1)
      expect(targets.body.items[0]).toMatchObject({ pending: 0, failed: 0 })
    }))

  it.scopedLive("a loopback URL is refused without allow_private_networks: nothing is sent, the failure is listed", () =>
    Effect.gen(function*() {
      const receiver = yield* makeReceiver()
      const { fake, port } = yield* daemon([{ url: receiver.url, events: ["*"], secret }])
      fake.pushText({ chatId: 42, userId: 42, text: "hello" })
      const failed = yield* pollUntil(
        api(port, "/api/webhooks/deliveries?status=failed"),
        (r) => r.body.items.some((d: any) => d.kind === "reply.sent")
      )
      for (const delivery of failed.body.items) {
        expect(delivery).toMatchObject({ status: "failed", attempts: 1, lastStatus: null })
        expect(delivery.lastError).toMatch(/refused: 127\.0\.0\.1 is a loopback address/)
        expect(delivery.lastError).toContain("allow_private_networks = true")
      }
      expect(receiver.received).toHaveLength(0)
    }))
})
