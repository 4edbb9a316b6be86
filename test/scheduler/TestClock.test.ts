/**
 * Firing on the test clock: the whole runtime (actors, mailboxes, wake-up timer) runs on the
 * TestClock, so "not before its time" is exact. Simulated time is kept short (a couple of
 * minutes): adjusting it runs every periodic fiber of the cluster through each of its ticks.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { Scheduler } from "../../src/scheduler/Scheduler.ts"
import { FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"

const start = Date.parse("2026-11-24T10:00:00Z")

/**
 * A plain reminder (no LLM) in its own chat at `runAt`: once its text is sent, the runtime has
 * processed simulated time up to then, so whatever did not happen before it will not happen.
 */
const marker = (scheduler: Scheduler, text: string, runAt: string) =>
  scheduler.schedule(
    { ownerId: "marker", conversation: { channel: "console", chatId: "marker" }, userId: null },
    { strategy: "message", payload: text, runAt }
  )

describe("firing on the test clock", () => {
  it.scoped("a one-shot fires once, at its time and not a moment before", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: { scheduler: { poll_interval_ms: 60_000 } } })
      const scheduler = yield* h.use(Scheduler)
      const job = yield* scheduler.schedule(
        { ownerId: "o1", conversation: { channel: "console", chatId: "c1" }, userId: null },
        { strategy: "llm_prompt", payload: "say hi", runAt: "2026-11-24T10:01:30Z" }
      )
      yield* marker(scheduler, "one millisecond before", "2026-11-24T10:01:29.999Z")
      yield* TestClock.adjust("89999 millis")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("marker")).toEqual(["one millisecond before"])
      expect(fake.completions()).toHaveLength(0)
      yield* TestClock.adjust("1 millis")
      yield* h.waitForReplies(2)
      expect(lastUserContent(fake.completions()[0]!.body)).toBe(
        `Scheduled instruction (job ${job.id}, due 2026-11-24T10:01:30.000+00:00): say hi\nDo it now; do not schedule it again.`
      )
      // Exactly on time: not late by a single simulated millisecond.
      expect((yield* scheduler.history("o1", job.id))[0]).toMatchObject({ lateMs: 0, status: "completed" })
      yield* marker(scheduler, "a minute later", "2026-11-24T10:02:30Z")
      yield* TestClock.adjust("1 minute")
      yield* h.waitForReplies(3)
      expect(h.repliesTo("c1")).toHaveLength(1)
      expect(h.repliesTo("marker")).toEqual(["one millisecond before", "a minute later"])
      expect(yield* scheduler.get("o1", job.id)).toMatchObject({ status: "completed", runs: 1, nextRunAt: null })
    }), 20_000)

  it.scoped(
    "an interval job fires on each slot of simulated time, on the grid of its first run",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const fake = yield* FakeLlm.make()
        const h = yield* makeHarness(fake, {
          config: { scheduler: { poll_interval_ms: 60_000, min_interval_seconds: 10 } }
        })
        const scheduler = yield* h.use(Scheduler)
        const job = yield* scheduler.schedule(
          { ownerId: "o1", conversation: { channel: "console", chatId: "c2" }, userId: null },
          { strategy: "message", payload: "tick", intervalSeconds: 20 }
        )
        for (let slot = 1; slot <= 3; slot++) {
          yield* TestClock.adjust("20 seconds")
          yield* h.waitForReplies(slot)
        }
        yield* marker(scheduler, "just before the fourth slot", "2026-11-24T10:01:19.999Z")
        yield* TestClock.adjust("19999 millis")
        yield* h.waitForReplies(4)
        expect(h.repliesTo("c2")).toHaveLength(3)
        const runs = yield* scheduler.history("o1", job.id)
        expect(runs.map((r) => new Date(r.dueAt).toISOString()).sort()).toEqual([
          "2026-11-24T10:00:20.000Z",
          "2026-11-24T10:00:40.000Z",
          "2026-11-24T10:01:00.000Z"
        ])
        expect(runs.every((r) => r.lateMs === 0)).toBe(true)
        expect(yield* scheduler.get("o1", job.id)).toMatchObject({
          status: "pending",
          nextRunAt: Date.parse("2026-11-24T10:01:20Z")
        })
      }),
    20_000
  )
})
