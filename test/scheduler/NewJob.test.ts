import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { firstProblem, type NewJob, newJob } from "../../src/scheduler/NewJob.ts"

const now = Date.parse("2026-11-24T10:00:00Z")
const rules = { now, defaultZone: "Europe/Madrid", minIntervalSeconds: 300 }
const prompt = { strategy: "llm_prompt", payload: "p" } as const

const problem = (spec: NewJob) => Schema.decode(newJob(rules))(spec).pipe(Effect.flip, Effect.map(firstProblem))

describe("a new job's Schema", () => {
  it.effect("resolves the timing of a valid request", () =>
    Effect.gen(function*() {
      const plan = yield* Schema.decode(newJob(rules))({ ...prompt, runAt: "2026-11-25T09:00", cron: "0 9 * * 1-5" })
      expect(plan).toEqual({
        ...prompt,
        timezone: "Europe/Madrid",
        recurrence: { kind: "cron", expression: "0 9 * * 1-5" },
        firstRunAt: Date.parse("2026-11-25T08:00:00Z"),
        endAt: null,
        notify: true
      })
    }))

  it.effect("a bad field is named as the tools call it, with the reason", () =>
    Effect.gen(function*() {
      expect(yield* problem({ ...prompt, delaySeconds: 60, timezone: "Europe/Atlantis" })).toEqual({
        field: "timezone",
        message: `unknown time zone "Europe/Atlantis": use an IANA name such as "Europe/Madrid"`
      })
      expect(yield* problem({ ...prompt, delaySeconds: 60, intervalSeconds: 60 })).toEqual({
        field: "interval_seconds",
        message: "must be at least 300 seconds, got 60"
      })
      expect(yield* problem({ ...prompt, delaySeconds: 0 })).toEqual({
        field: "delay_seconds",
        message: "must be a positive number of seconds"
      })
      expect(yield* problem({ ...prompt, runAt: "2026-11-24T11:00:00Z", delaySeconds: 60 })).toEqual({
        field: "delay_seconds",
        message: "give either run_at or delay_seconds, not both"
      })
      expect(yield* problem({ ...prompt, intervalSeconds: 600, cron: "* * * * *" })).toEqual({
        field: "cron",
        message: "give either interval_seconds or cron, not both"
      })
      expect(yield* problem(prompt)).toEqual({
        field: "run_at",
        message: "give run_at (ISO-8601 date and time) or delay_seconds"
      })
      expect(yield* problem({ ...prompt, runAt: "2026-11-24T09:00:00Z" })).toEqual({
        field: "run_at",
        message: "2026-11-24T09:00:00Z is in the past (it is now 2026-11-24T11:00:00.000+01:00)"
      })
      expect(yield* problem({ ...prompt, delaySeconds: 60, endAt: "2026-11-24T09:00:00Z" })).toEqual({
        field: "end_at",
        message: "2026-11-24T09:00:00Z is before the first run (2026-11-24T11:01:00.000+01:00)"
      })
    }))
})
