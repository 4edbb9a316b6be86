import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schedule } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { version } from "../../src/observability/Lifecycle.ts"
import * as ProcessMetrics from "../../src/observability/ProcessMetrics.ts"
import * as Prometheus from "../../src/observability/Prometheus.ts"

const valueOf = (text: string, series: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("/metrics", () => {
  it.effect("every counter is there from the start, at 0", () =>
    Effect.gen(function*() {
      const text = yield* Prometheus.scrape
      for (
        const name of [
          "minibot_messages_received_total",
          "minibot_turn_failures_total",
          "minibot_llm_failures_total",
          "minibot_telegram_api_errors_total",
          "minibot_telegram_refusals_total",
          "minibot_job_failures_total",
          "minibot_bus_dropped_total"
        ]
      ) {
        expect(text).toMatch(new RegExp(`^# TYPE ${name} counter$`, "m"))
        expect(valueOf(text, name)).toBe(0)
      }
      expect(valueOf(text, "minibot_turn_duration_seconds_count")).toBe(0)
    }))

  it.effect("a healthy process shows no failures: Effect's fiber counters are left out", () =>
    Effect.gen(function*() {
      // Fibers that end by failing or being interrupted are routine inside the daemon.
      const fiber = yield* Effect.fork(Effect.fail("routine"))
      yield* Fiber.await(fiber)
      yield* Fiber.interrupt(yield* Effect.fork(Effect.never))
      const text = yield* Prometheus.scrape
      expect(text).not.toContain("effect_fiber_")
      const failing = text.split("\n").filter((l) => /failures/.test(l) && !l.startsWith("#") && !/ 0$/.test(l))
      expect(failing).toEqual([])
    }))

  it.effect("a build-info gauge carries the version, which is package.json's", () =>
    Effect.gen(function*() {
      const pkg = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "../../package.json"), "utf8"))
      expect(version).toBe(pkg.version)
      const text = yield* Prometheus.scrape
      expect(text).toMatch(/^# TYPE minibot_build_info gauge$/m)
      expect(valueOf(text, `minibot_build_info{version="${version}",node="${process.version}"}`)).toBe(1)
    }))

  it.live("standard process figures: CPU, resident memory, heap, event-loop lag, GC", () =>
    Effect.gen(function*() {
      // Garbage enough for the collector to run while the observer watches.
      let kept = 0
      for (let i = 0; i < 200; i++) kept += new Array(100_000).fill(i).length
      expect(kept).toBeGreaterThan(0)
      // The collector's entries reach the observer asynchronously: scrape until they are in.
      const text = yield* Prometheus.scrape.pipe(
        Effect.filterOrFail((t) => t.includes("nodejs_gc_duration_seconds_count"), () => "no GC seen yet"),
        Effect.retry(Schedule.spaced("10 millis")),
        Effect.timeout("5 seconds")
      )
      expect(valueOf(text, "process_cpu_seconds_total")).toBeGreaterThan(0)
      expect(valueOf(text, "process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
      expect(valueOf(text, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0)
      expect(valueOf(text, "process_start_time_seconds")).toBeLessThanOrEqual(Date.now() / 1000)
      expect(text).toMatch(/^nodejs_eventloop_lag_seconds \S+$/m)
      expect(text).toMatch(/^nodejs_gc_duration_seconds_count\{kind="\w+"\} [1-9]\d*$/m)
    }).pipe(Effect.provide(Layer.fresh(ProcessMetrics.layer))))
})
