import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { JobFiring } from "../../src/domain/JobFiring.ts"
import * as ClusterStorage from "../../src/runtime/ClusterStorage.ts"
import { FiringHandler } from "../../src/scheduler/JobRunner.ts"
import { JobStore } from "../../src/scheduler/JobStore.ts"
import { Scheduler } from "../../src/scheduler/Scheduler.ts"
import * as Database from "../../src/storage/Database.ts"
import { FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeHarness, tempDir } from "../support/Harness.ts"
import { callTool, eventually, pollUntil } from "./helpers.ts"

const fast = { scheduler: { min_interval_seconds: 1, retry_backoff_ms: 50, default_retry_limit: 2 } }
const isScheduled = (text: string) => text.startsWith("Scheduled instruction")

describe("firing scheduled prompts", () => {
  it.scopedLive("an interval job fires on every slot until it is cancelled", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: fast })
      const created = yield* callTool(h, "c", "schedule_prompt", { prompt: "tick", interval_seconds: 1 })
      expect(created.ok).toBe(true)
      yield* h.waitForReplies(3, 5000)
      const cancelled = yield* callTool(h, "c", "cancel_scheduled_prompt", { id: created.result.id })
      expect(cancelled.ok).toBe(true)
      const count = h.replies.length
      // The firing already posted for the next slot comes due and is dropped.
      yield* eventually(() => h.logs.some((l) => l.includes("firing ignored: the job was cancelled")), "the next slot")
      expect(h.replies.length).toBeLessThanOrEqual(count + 1) // one may have been firing while cancelled
      const scheduled = fake.completions().filter((r) => isScheduled(lastUserContent(r.body)))
      // One run per slot, the slots on the job's one-second grid: never two for one slot.
      const sql = yield* h.use(SqlClient.SqlClient)
      const runs = yield* sql<{ due_at: number; n: number }>`
        SELECT due_at, COUNT(*) AS n FROM job_runs GROUP BY due_at ORDER BY due_at`
      expect(runs.every((r) => Number(r.n) === 1)).toBe(true)
      expect(runs.length).toBe(scheduled.length)
      const dues = runs.map((r) => Number(r.due_at))
      for (const [i, due] of dues.slice(1).entries()) {
        expect(due).toBeGreaterThan(dues[i]!)
        expect((due - dues[0]!) % 1000).toBe(0)
      }
    }))

  it.scopedLive("notify = false runs the prompt and records it, but sends nothing", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: fast })
      const created = yield* callTool(h, "quiet", "schedule_prompt", {
        prompt: "update my notes",
        delay_seconds: 0.3,
        notify: false
      })
      yield* Effect.promise(() =>
        fake.waitFor((f) => f.completions().some((r) => isScheduled(lastUserContent(r.body))), 5000)
      )
      const scheduler = yield* h.use(Scheduler)
      const job = yield* pollUntil(
        scheduler.get("console:user-quiet", created.result.id),
        (job) => job.status === "completed"
      )
      const [run] = yield* scheduler.history("console:user-quiet", job.id)
      expect(run).toMatchObject({ status: "completed", result: expect.stringContaining("not sent") })
      // Nothing was sent: the chat's next message gets the first reply.
      yield* h.send("quiet", "hello")
      yield* h.waitForReplies(1)
      expect(h.replies.map((r) => r.text)).toEqual(["echo: hello"])
    }))

  it.scopedLive("a failing LLM is retried with backoff, then the job is failed and the person told once", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script((request) => (isScheduled(lastUserContent(request)) ? { status: 500 } : { content: "ok" }))
      const h = yield* makeHarness(fake, { config: fast, llm: { retry_attempts: 0 } })
      const created = yield* callTool(h, "f", "schedule_prompt", { prompt: "summarise", delay_seconds: 0.2 })
      yield* h.waitForReplies(1, 5000)
      // Told once: the chat's next message gets the next reply.
      yield* h.send("f", "still there?")
      yield* h.waitForReplies(2)
      expect(h.replies.map((r) => r.text).slice(1)).toEqual(["ok"])
      expect(h.replies[0]).toMatchObject({
        kind: "notice",
        text: expect.stringMatching(
          new RegExp(`^Your scheduled prompt ${created.result.id} could not run after 3 attempts: `)
        )
      })
      // One first attempt and default_retry_limit = 2 retries.
      expect(fake.completions().filter((r) => isScheduled(lastUserContent(r.body)))).toHaveLength(3)
      const job = yield* h.use(Effect.flatMap(Scheduler, (s) => s.get("console:user-f", created.result.id)))
      expect(job).toMatchObject({ status: "failed", attempts: 3, lastError: expect.any(String) })
    }))

  it.scopedLive("a user's message and a due job of the same chat never run at the same time", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make({ latencyMs: 300 })
      const h = yield* makeHarness(fake, { config: fast })
      yield* callTool(h, "s", "schedule_prompt", { prompt: "job", delay_seconds: 0.1 })
      yield* h.send("s", "hello")
      yield* h.waitForReplies(2, 5000)
      const [a, b] = fake.completions()
      expect(b!.receivedAt).toBeGreaterThanOrEqual(a!.receivedAt + a!.handledMs! - 1)
    }))
})

describe("start-up reconciliation", () => {
  it.live("a job stored but never posted (a crash between the two) is posted at start and fires", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const dataDir = tempDir()
      const due = Date.now() + 1500
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* makeHarness(fake, { dataDir })
        const store = yield* h.use(JobStore)
        yield* store.insert({
          id: "jlost00001",
          ownerId: "console:user-r",
          conversation: { channel: "console", chatId: "r" },
          userId: null,
          strategy: "message",
          payload: "found again",
          recurrence: { kind: "none" },
          timezone: "UTC",
          runAt: due,
          nextRunAt: due,
          endAt: null,
          notify: true,
          status: "pending",
          attempts: 0,
          runs: 0,
          lastRunAt: null,
          lastError: null,
          createdAt: Date.now(),
          updatedAt: Date.now()
        })
      }))
      const h = yield* makeHarness(fake, { dataDir })
      yield* h.waitForReplies(1, 5000)
      expect(h.replies.map((r) => r.text)).toEqual(["found again"])
      expect(Date.now()).toBeGreaterThanOrEqual(due)
    }).pipe(Effect.scoped))

  it.live("a reminder sent after downtime says it is late", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const dataDir = tempDir()
      const id = yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* makeHarness(fake, { dataDir })
        const created = yield* callTool(h, "late", "task_create", {
          kind: "message",
          text: "stretch",
          delay_seconds: 0.5
        })
        return created.result.id as string
      }))
      // While it is down, its stored times are moved two minutes back to stand for a long outage.
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE scheduled_jobs SET next_run_at = next_run_at - 120000, run_at = run_at - 120000 WHERE id = ${id}`
        yield* ClusterStorage.shiftIntoPast(120_000)
      }).pipe(Effect.provide(Database.sqliteAt(Database.databaseFile(dataDir))), Effect.orDie)
      const h = yield* makeHarness(fake, { dataDir })
      yield* h.waitForReplies(1, 5000)
      expect(h.replies[0]!.text).toMatch(/^stretch\n\(due \S+; sent late\)$/)
    }).pipe(Effect.scoped))
})

describe("redelivered firings", () => {
  it.scopedLive("a failed run whose notice was lost in a crash is told on redelivery, once", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: fast })
      const created = yield* callTool(h, "n", "schedule_prompt", { prompt: "p", delay_seconds: 3600 })
      const job = yield* h.use(Effect.flatMap(JobStore, (s) => s.byId(created.result.id)))
      const dueAt = Option.getOrThrow(job).nextRunAt!
      // As left by a crash right after the run was marked failed, before the notice.
      const sql = yield* h.use(SqlClient.SqlClient)
      yield* sql`UPDATE scheduled_jobs SET status = 'failed', next_run_at = NULL, last_error = 'boom' WHERE id = ${created.result.id}`
      yield* sql`INSERT INTO job_runs (job_id, due_at, attempt, status, late_ms, started_at, error, notified)
        VALUES (${created.result.id}, ${dueAt}, 2, 'failed', 0, ${dueAt}, 'boom', 0)`
      const firing = new JobFiring({
        jobId: created.result.id,
        dueAt,
        attempt: 2,
        at: dueAt,
        conversation: { channel: "console", chatId: "n" }
      })
      const handler = yield* h.use(FiringHandler)
      yield* handler.fire(firing)
      yield* handler.fire(firing)
      expect(h.replies.map((r) => r.text)).toEqual([
        `Your scheduled prompt ${created.result.id} could not run after 3 attempts: boom.`
      ])
      expect(fake.completions()).toHaveLength(0)
    }))
})
