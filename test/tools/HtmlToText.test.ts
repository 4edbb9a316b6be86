import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { performance } from "node:perf_hooks"
import * as HttpRequestTool from "../../src/tools/builtin/HttpRequestTool.ts"
import * as HtmlToText from "../../src/tools/text/HtmlToText.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { makeToolsConfig } from "../../src/tools/ToolsConfig.ts"
import { callOf, contextFor, parse } from "./helpers.ts"

/** 80,000 nested tags: about 12 s of work and a stack overflow for the converter on one thread. */
const deepPage = `<html><body>${"<div>".repeat(80_000)}deep text${"</div>".repeat(80_000)}</body></html>`

/**
 * What "the event loop stays free" allows: idle timers already miss by this much on a loaded
 * two-core machine, while a conversion on the main thread stalls them for its whole length (>10 s).
 */
const maxStallMs = 250

/**
 * The longest the main thread went without running a 5 ms timer while `effect` ran: what another
 * conversation's turn would have waited.
 */
const longestStall = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const ticks = { last: performance.now(), longest: 0, count: 0 }
    const timer = setInterval(() => {
      const now = performance.now()
      ticks.longest = Math.max(ticks.longest, now - ticks.last)
      ticks.last = now
      ticks.count++
    }, 5)
    const result = yield* Effect.either(effect).pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
    return { result, stall: Math.max(ticks.longest, performance.now() - ticks.last), ticks: ticks.count }
  })

const serveDeepPage = Effect.acquireRelease(
  Effect.async<http.Server>((resume) => {
    const server = http.createServer((_, res) => {
      res.setHeader("content-type", "text/html")
      res.end(deepPage)
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

describe("HtmlToText", () => {
  it.live("converts an ordinary page", () =>
    Effect.gen(function*() {
      const text = yield* HtmlToText.convert(
        "<html><head><script>var x = 1</script></head><body><p>Hello <b>world</b><img src=x></p></body></html>",
        { timeout: "5 seconds", maxMemoryMb: 64 }
      )
      expect(text.trim()).toBe("Hello world")
    }))

  it.live("a hostile page is stopped at its time limit, and timers keep firing meanwhile", () =>
    Effect.gen(function*() {
      const { result, stall, ticks } = yield* longestStall(
        HtmlToText.convert(deepPage, { timeout: "1 second", maxMemoryMb: 256 })
      )
      expect(Either.isLeft(result) && result.left.message).toBe(
        "the page could not be converted to text within 1s"
      )
      // The timer ran all along (about 200 ticks in the second); a blocked loop gives a few at most.
      expect(ticks).toBeGreaterThan(50)
      expect(stall).toBeLessThan(maxStallMs)
    }))
})

describe("HtmlToText memory", () => {
  it.live("a page needing more memory than allowed is an error naming the limit, not a crash", () =>
    Effect.gen(function*() {
      const wide = `<html><body>${"<p>word</p>".repeat(400_000)}</body></html>`
      const result = yield* Effect.either(HtmlToText.convert(wide, { timeout: "20 seconds", maxMemoryMb: 16 }))
      expect(Either.isLeft(result) && result.left.message).toBe("the page needs more than 16 MB to convert to text")
    }))
})

describe("http_request on a hostile page", () => {
  it.scopedLive("answers with a clear error while the event loop stays free", () =>
    Effect.gen(function*() {
      const server = yield* serveDeepPage
      const config = makeToolsConfig({
        http_client: { enabled: true, allow_private_networks: true, html_timeout_seconds: 1 }
      })
      const registry = ToolRegistry.make([HttpRequestTool.make(config.http_client)])
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      const { result, stall } = yield* longestStall(
        Effect.map(registry.execute(callOf("http_request", { url }), contextFor("u")), parse)
      )
      expect(result).toEqual(
        Either.right({ ok: false, error: `${url}: the page could not be converted to text within 1s` })
      )
      expect(stall).toBeLessThan(maxStallMs)
    }))
})
