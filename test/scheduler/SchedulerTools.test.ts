import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"
import { callTool } from "./helpers.ts"

const now = Date.parse("2026-11-24T10:00:00Z")

describe("scheduler tools (on the test clock)", () => {
  it.scoped("validation errors name the field and say why", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: { scheduler: { min_interval_seconds: 300 } } })
      const attempt = (args: Record<string, unknown>) => callTool(h, "a", "schedule_prompt", { prompt: "p", ...args })

      expect(yield* attempt({ run_at: "2026-11-24T09:00:00Z" })).toMatchObject({
        ok: false,
        field: "run_at",
        error: expect.stringMatching(/in the past \(it is now 2026-11-24T10:00:00\.000\+00:00\)/)
      })
      expect(yield* attempt({ delay_seconds: 60, interval_seconds: 60 })).toMatchObject({
        ok: false,
        field: "interval_seconds",
        error: expect.stringContaining("at least 300 seconds")
      })
      // Six fields: every second passes no interval check of its own; its gaps are measured.
      for (const cron of ["* * * * * *", "*/30 * * * * *", "0,2 9 * * *"]) {
        expect(yield* attempt({ cron }), cron).toMatchObject({
          ok: false,
          field: "cron",
          error: expect.stringContaining(
            "the shortest allowed interval is 300 seconds ([scheduler] min_interval_seconds)"
          )
        })
      }
      expect(yield* attempt({ cron: "0,5 9 * * *" })).toMatchObject({ ok: true })
      expect(yield* attempt({ cron: "0 25 * * *" })).toMatchObject({
        ok: false,
        field: "cron",
        error: expect.stringContaining("invalid cron")
      })
      expect(yield* attempt({ delay_seconds: 60, timezone: "Europe/Atlantis" })).toMatchObject({
        ok: false,
        field: "timezone"
      })
      expect(yield* attempt({ run_at: "2026-11-24T11:00:00Z", delay_seconds: 60 })).toMatchObject({
        ok: false,
        field: "delay_seconds",
        error: expect.stringContaining("not both")
      })
      expect(yield* attempt({})).toMatchObject({ ok: false, field: "run_at" })
      expect(yield* attempt({ run_at: "next tuesday" })).toMatchObject({
        ok: false,
        field: "run_at",
        error: expect.stringContaining("ISO-8601")
      })
      expect(yield* attempt({ delay_seconds: 60, end_at: "2026-11-24T09:00:00Z" })).toMatchObject({
        ok: false,
        field: "end_at"
      })
      expect(yield* callTool(h, "a", "schedule_prompt", { run_at: "2026-11-24T11:00:00Z" })).toMatchObject({
        ok: false,
        field: "prompt"
      })
    }))

  it.scoped("max_jobs_per_owner active jobs per person; cancelling one makes room; others are not limited", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: { scheduler: { max_jobs_per_owner: 3 } } })
      const schedule = (chat: string) => callTool(h, chat, "schedule_prompt", { prompt: "p", delay_seconds: 3600 })
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) ids.push((yield* schedule("a")).result.id)
      const refused = yield* schedule("a")
      expect(refused).toMatchObject({ ok: false })
      expect(refused.error).toContain("you already have 3 active scheduled jobs")
      expect(refused.error).toContain("[scheduler] max_jobs_per_owner = 3")
      expect(yield* schedule("b")).toMatchObject({ ok: true })
      expect(yield* callTool(h, "a", "cancel_scheduled_prompt", { id: ids[0]! })).toMatchObject({ ok: true })
      expect(yield* schedule("a")).toMatchObject({ ok: true })
    }))

  it.scoped("schedule, list and cancel are scoped to the owner: another person's job is not found", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: { runtime: { timezone: "Europe/Madrid" } } })

      const created = yield* callTool(h, "alice", "schedule_prompt", {
        prompt: "water the plants",
        run_at: "2026-11-25T09:00"
      })
      expect(created).toMatchObject({
        ok: true,
        result: {
          id: expect.stringMatching(/^j\w{9}$/),
          prompt: "water the plants",
          status: "pending",
          recurrence: "none",
          timezone: "Europe/Madrid",
          next_run_at: "2026-11-25T09:00:00.000+01:00",
          notify: true
        }
      })
      const daily = yield* callTool(h, "alice", "schedule_prompt", {
        prompt: "news digest",
        cron: "30 8 * * 1-5",
        notify: false
      })
      expect(daily.result).toMatchObject({
        recurrence: "cron",
        cron: "30 8 * * 1-5",
        next_run_at: "2026-11-25T08:30:00.000+01:00",
        notify: false
      })
      const id = created.result.id as string

      const bobList = yield* callTool(h, "bob", "list_scheduled_prompts", {})
      expect(bobList).toEqual({ ok: true, result: { total: 0, jobs: [] } })
      expect(yield* callTool(h, "bob", "cancel_scheduled_prompt", { id })).toMatchObject({
        ok: false,
        field: "id",
        error: `no scheduled job with id "${id}"`
      })

      const aliceList = yield* callTool(h, "alice", "list_scheduled_prompts", { limit: 10 })
      expect(aliceList.result.total).toBe(2)
      expect(aliceList.result.jobs.map((j: { id: string }) => j.id).sort()).toEqual([id, daily.result.id].sort())

      expect(yield* callTool(h, "alice", "cancel_scheduled_prompt", { id })).toMatchObject({
        ok: true,
        result: { id, status: "cancelled", next_run_at: null }
      })
      expect(yield* callTool(h, "alice", "cancel_scheduled_prompt", { id })).toMatchObject({
        ok: false,
        error: expect.stringContaining("already cancelled")
      })
      expect((yield* callTool(h, "alice", "list_scheduled_prompts", {})).result.total).toBe(1)
      expect((yield* callTool(h, "alice", "list_scheduled_prompts", { active_only: false })).result.total).toBe(2)
      expect(
        (yield* callTool(h, "alice", "list_scheduled_prompts", { active_only: false, limit: 1, offset: 1 })).result.jobs
      ).toHaveLength(1)
    }))
})
