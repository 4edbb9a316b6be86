import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { callTool, realSleep } from "../scheduler/helpers.ts"
import { FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"

const fast = { scheduler: { min_interval_seconds: 1, retry_backoff_ms: 50, default_retry_limit: 1 } }

const waitForStatus = (h: { use: any }, chatId: string, id: string, status: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 250; i++) {
      const shown = yield* callToolFor(h, chatId, id)
      if (shown.result?.task.status === status) return shown
      yield* realSleep(20)
    }
    throw new Error(`task ${id} never became ${status}`)
  })
const callToolFor = (h: any, chatId: string, id: string) => callTool(h, chatId, "task_list", { id })

const siteHits = { count: 0 }
/** A one-page website on loopback; `siteHits` counts its requests. */
const site = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<http.Server>((resolve) => {
      const server = http.createServer((_, res) => {
        res.writeHead(200, { "content-type": "text/html" })
        res.end("<html><body><h1>Prices</h1><p>Tomatoes are 2 euros today.</p></body></html>")
      })
      server.on("request", () => siteHits.count++)
      server.listen(0, "127.0.0.1", () => resolve(server))
    })
  ),
  (server) => Effect.promise(() => new Promise((r) => server.close(r)))
)

describe("tasks", () => {
  it.scopedLive("lifecycle and history through the tools: queued -> running -> completed, failed, cancelled", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script((request) => {
        const last = lastUserContent(request)
        return last.includes("break")
          ? { status: 500 }
          : { content: `done: ${last.split(": ").at(-1)!.split("\n")[0]}` }
      })
      const h = yield* makeHarness(fake, { config: fast, llm: { retry_attempts: 0 } })

      // A fixed message, now, without the LLM.
      const message = yield* callTool(h, "t", "task_create", { kind: "message", text: "Stand-up in 5 minutes" })
      expect(message).toMatchObject({
        ok: true,
        result: { kind: "message", text: "Stand-up in 5 minutes", status: "queued" }
      })
      yield* h.waitForReplies(1)
      expect(h.replies[0]).toMatchObject({ text: "Stand-up in 5 minutes", kind: "notice" })
      expect(fake.completions()).toHaveLength(0)
      const shown = yield* waitForStatus(h, "t", message.result.id, "completed")
      expect(shown.result.history).toEqual([
        expect.objectContaining({ status: "completed", attempts: 1, result: "Stand-up in 5 minutes" })
      ])

      // An LLM prompt after a delay.
      const later = yield* callTool(h, "t", "task_create", {
        kind: "llm_prompt",
        prompt: "plan my day",
        delay_seconds: 0.3
      })
      expect(later.result.status).toBe("queued")
      yield* h.waitForReplies(2)
      expect(h.replies[1]!.text).toBe("done: plan my day")
      yield* waitForStatus(h, "t", later.result.id, "completed")

      // One that fails: retried once (default_retry_limit = 1), then failed with its error in the history.
      const broken = yield* callTool(h, "t", "task_create", { kind: "llm_prompt", prompt: "break things" })
      yield* h.waitForReplies(3)
      const failed = yield* waitForStatus(h, "t", broken.result.id, "failed")
      expect(failed.result.task.last_error).toEqual(expect.any(String))
      expect(failed.result.history).toEqual([
        expect.objectContaining({ status: "failed", attempts: 2, error: expect.any(String) })
      ])

      // A recurring one, cancelled before it runs.
      const recurring = yield* callTool(h, "t", "task_create", {
        kind: "message",
        text: "drink water",
        interval_seconds: 3600
      })
      expect(yield* callTool(h, "t", "task_cancel", { id: recurring.result.id })).toMatchObject({
        ok: true,
        result: { status: "cancelled" }
      })

      // Queries by status and kind; another owner sees none of it.
      expect((yield* callTool(h, "t", "task_list", { status: "completed" })).result.total).toBe(2)
      expect((yield* callTool(h, "t", "task_list", { kind: "message" })).result.total).toBe(2)
      expect((yield* callTool(h, "t", "task_list", { status: "cancelled" })).result.tasks).toEqual([
        expect.objectContaining({ id: recurring.result.id, recurrence: "interval", interval_seconds: 3600 })
      ])
      expect(
        (yield* callTool(h, "t", "task_list", {
          created_after: "2000-01-01T00:00:00Z",
          created_before: "2000-01-02T00:00:00Z"
        })).result.total
      ).toBe(0)
      expect((yield* callTool(h, "other", "task_list", {})).result).toEqual({ total: 0, tasks: [] })
      expect(yield* callTool(h, "other", "task_cancel", { id: later.result.id })).toMatchObject({
        ok: false,
        field: "id"
      })
      expect(yield* callTool(h, "t", "task_create", { kind: "web_fetch", prompt: "x" })).toMatchObject({
        ok: false,
        field: "url"
      })
    }))

  it.scopedLive("web_fetch fetches the page with the http_request guards and posts the model's summary", () =>
    Effect.gen(function*() {
      const server = yield* site
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prices`
      const fake = yield* FakeLlm.make()
      fake.script((request) => ({
        content: lastUserContent(request).includes("Tomatoes are 2 euros") ? "Tomatoes: 2 €" : "?"
      }))
      // Loopback is a private address: refused unless allowed.
      const strict = yield* makeHarness(fake, { config: { ...fast, tools: { http_client: { enabled: true } } } })
      const refused = yield* callTool(strict, "w", "task_create", { kind: "web_fetch", url })
      yield* strict.waitForReplies(1)
      expect(strict.replies[0]!.text).toMatch(
        /could not run after 2 attempts: fetching .* failed: .*(private|loopback|refused)/i
      )
      expect(refused.ok).toBe(true)

      const open = yield* makeHarness(fake, {
        config: { ...fast, tools: { http_client: { enabled: true, allow_private_networks: true } } }
      })
      yield* callTool(open, "w", "task_create", { kind: "web_fetch", url })
      yield* open.waitForReplies(1)
      expect(open.replies[0]!.text).toBe("Tomatoes: 2 €")
      expect(siteHits.count).toBe(1)
    }))

  it.scopedLive("with [tools.http_client] off, a web_fetch task fetches nothing and says why", () =>
    Effect.gen(function*() {
      const server = yield* site
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prices`
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ content: "summary" }))
      const before = siteHits.count
      const off = yield* makeHarness(fake, {
        config: { ...fast, tools: { http_client: { enabled: false, allow_private_networks: true } } }
      })
      yield* callTool(off, "w", "task_create", { kind: "web_fetch", url })
      yield* off.waitForReplies(1)
      expect(off.replies[0]!.text).toMatch(/could not run after 2 attempts: .*\[tools\.http_client\] enabled = true/)
      expect(siteHits.count).toBe(before)
      expect(fake.completions()).toHaveLength(0)
    }))
})
