/**
 * The job runner's decisions on the TestClock, without actors: a firing is handed to
 * `FiringHandler.fire` by the test, the strategy answers from a script, posted firings are read
 * from `Posted`. Firing through real actors and processes is tested in Firing.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Ref, TestClock } from "effect"
import { Bus } from "../../src/bus/Bus.ts"
import { Outbound } from "../../src/channels/Outbound.ts"
import { AppConfig, makeConfig } from "../../src/config/Config.ts"
import { FiringHandler } from "../../src/scheduler/JobRunner.ts"
import * as JobRunner from "../../src/scheduler/JobRunner.ts"
import { JobStore } from "../../src/scheduler/JobStore.ts"
import { Scheduler } from "../../src/scheduler/Scheduler.ts"
import * as Database from "../../src/storage/Database.ts"
import { TaskStrategies } from "../../src/tasks/Strategies.ts"
import { done, failed, type StrategyOutcome, type StrategyRun } from "../../src/tasks/TaskStrategy.ts"
import { UserTimezones } from "../../src/tools/timezone/UserTimezones.ts"
import { Posted, TestActors } from "../support/TestActors.ts"
import { recordingSenders, Sent } from "../support/TurnKit.ts"

const minute = 60_000

/** Every strategy answers with `outcomes` in order (then "done"); each run is recorded. */
class Runs extends Context.Tag("test/StrategyRuns")<Runs, Ref.Ref<ReadonlyArray<StrategyRun>>>() {
  static readonly all = Effect.flatMap(Runs, Ref.get)
}
const scriptedStrategies = (outcomes: ReadonlyArray<StrategyOutcome>) =>
  Layer.effectContext(Effect.gen(function*() {
    const script = yield* Ref.make(outcomes)
    const runs = yield* Ref.make<ReadonlyArray<StrategyRun>>([])
    const run = (r: StrategyRun) =>
      Ref.update(runs, (all) => [...all, r]).pipe(
        Effect.zipRight(Ref.modify(script, ([next, ...rest]) => [next ?? done("done"), rest] as const))
      )
    return Context.make(TaskStrategies, { get: (name) => ({ name, run }) }).pipe(Context.add(Runs, runs))
  }))

const kit = (scheduler: Record<string, unknown>, outcomes: ReadonlyArray<StrategyOutcome> = []) =>
  JobRunner.layer.pipe(
    Layer.provideMerge(
      Layer.mergeAll(Scheduler.DefaultWithoutDependencies, Outbound.Default, scriptedStrategies(outcomes))
    ),
    Layer.provideMerge(
      Layer.mergeAll(JobStore.Default, UserTimezones.Default, TestActors, recordingSenders, Bus.memory)
    ),
    Layer.provideMerge(Database.sqliteAt(":memory:")),
    Layer.provideMerge(AppConfig.layer(makeConfig({ scheduler: { min_interval_seconds: 1, ...scheduler } }))),
    Layer.orDie
  )

const requester = { ownerId: "o1", conversation: { channel: "console", chatId: "c" }, userId: null } as const

/** Delivers the last posted firing at its time, as the actors would. */
const deliverLast = Effect.gen(function*() {
  const firing = (yield* Posted.all).at(-1)!
  yield* TestClock.setTime(firing.at)
  yield* Effect.flatMap(FiringHandler, (handler) => handler.fire(firing))
  return firing
})

describe("the job runner", () => {
  it.effect("a failing run is retried with doubling backoff, then the job fails and the person is told once", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const job = yield* scheduler.schedule(requester, { strategy: "message", payload: "hi", delaySeconds: 60 })
      const first = yield* deliverLast
      expect(first).toMatchObject({ attempt: 0, at: minute })
      yield* deliverLast
      yield* deliverLast
      yield* deliverLast
      const posted = yield* Posted.all
      // One first attempt and three retries, one second, then two, then four after each failure.
      expect(posted.map((f) => [f.attempt, f.at - minute])).toEqual([[0, 0], [1, 1000], [2, 3000], [3, 7000]])
      expect(posted.every((f) => f.dueAt === minute)).toBe(true)
      expect((yield* Sent.all).map((m) => [m.kind, m.text])).toEqual([
        ["notice", `Your scheduled task ${job.id} could not run after 4 attempts: offline.`]
      ])
      expect(yield* scheduler.get("o1", job.id)).toMatchObject({ status: "failed", attempts: 4, lastError: "offline" })
      // A redelivery of the last attempt does not run it or tell the person again.
      yield* Effect.flatMap(FiringHandler, (handler) => handler.fire(posted.at(-1)!))
      expect(yield* Runs.all).toHaveLength(4)
      expect(yield* Sent.all).toHaveLength(1)
    }).pipe(Effect.provide(kit({ retry_backoff_ms: 1000 }, [1, 2, 3, 4].map(() => failed("offline"))))))

  it.effect("missed slots of a recurring job run once, late, then it is back on its grid (run_once)", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const job = yield* scheduler.schedule(requester, { strategy: "message", payload: "tick", intervalSeconds: 60 })
      const first = (yield* Posted.all)[0]!
      yield* TestClock.setTime(first.at + 5 * minute + 1000)
      yield* Effect.flatMap(FiringHandler, (handler) => handler.fire(first))
      const [run] = yield* Runs.all
      expect(run).toMatchObject({ dueAt: first.dueAt, lateMs: 5 * minute + 1000 })
      // Not five catch-up runs: the next slot is the first after now.
      expect((yield* Posted.all).at(-1)).toMatchObject({ attempt: 0, dueAt: first.dueAt + 6 * minute })
      expect(yield* scheduler.get("o1", job.id)).toMatchObject({ runs: 1, nextRunAt: first.dueAt + 6 * minute })
    }).pipe(Effect.provide(kit({}))))

  it.effect("missed slots are skipped with missed_run_policy = \"skip\"", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const job = yield* scheduler.schedule(requester, { strategy: "message", payload: "tick", intervalSeconds: 60 })
      const first = (yield* Posted.all)[0]!
      yield* TestClock.setTime(first.at + 5 * minute + 1000)
      yield* Effect.flatMap(FiringHandler, (handler) => handler.fire(first))
      expect(yield* Runs.all).toEqual([])
      expect((yield* scheduler.history("o1", job.id))[0]).toMatchObject({ status: "skipped" })
      expect((yield* Posted.all).at(-1)).toMatchObject({ dueAt: first.dueAt + 6 * minute })
      // Less than a minute late is not missed: it runs.
      const next = yield* deliverLast
      expect((yield* Runs.all).map((r) => r.dueAt)).toEqual([next.dueAt])
    }).pipe(Effect.provide(kit({ missed_run_policy: "skip" }))))

  it.effect("a firing of a due time that already ran, or of a cancelled job, is ignored", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const handler = yield* FiringHandler
      const job = yield* scheduler.schedule(requester, { strategy: "message", payload: "tick", intervalSeconds: 60 })
      const first = yield* deliverLast
      yield* handler.fire(first)
      expect(yield* Runs.all).toHaveLength(1)
      yield* scheduler.cancel("o1", job.id)
      yield* deliverLast
      expect(yield* Runs.all).toHaveLength(1)
    }).pipe(Effect.provide(kit({}))))

  it.effect("run now runs the job once without moving its schedule; a redelivery does not run it again", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const handler = yield* FiringHandler
      const job = yield* scheduler.schedule(requester, { strategy: "message", payload: "tick", intervalSeconds: 3600 })
      yield* TestClock.setTime(10 * minute)
      const dueAt = yield* scheduler.runNow(job.id)
      const manual = (yield* Posted.all).at(-1)!
      expect(manual).toMatchObject({ dueAt, manual: true, at: 10 * minute })
      yield* handler.fire(manual)
      yield* handler.fire(manual)
      expect((yield* Runs.all).map((r) => r.dueAt)).toEqual([dueAt])
      expect(yield* scheduler.find(job.id)).toMatchObject({ status: "pending", nextRunAt: job.nextRunAt, runs: 1 })
      // The regular firing still runs at its time.
      yield* TestClock.setTime(job.nextRunAt!)
      yield* handler.fire((yield* Posted.all)[0]!)
      expect((yield* Runs.all).map((r) => r.dueAt)).toEqual([dueAt, job.nextRunAt])
    }).pipe(Effect.provide(kit({}))))

  it.effect("a paused job does not fire; resumed, its next due time is computed from now", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const handler = yield* FiringHandler
      const job = yield* scheduler.schedule(requester, { strategy: "message", payload: "tick", intervalSeconds: 60 })
      const paused = yield* scheduler.pause(job.id)
      expect(paused).toMatchObject({ status: "paused", nextRunAt: null })
      const refused = yield* Effect.flip(scheduler.pause(job.id))
      expect(refused.message).toContain("paused")
      yield* deliverLast
      expect(yield* Runs.all).toEqual([])
      yield* TestClock.setTime(5 * minute + 30_000)
      const resumed = yield* scheduler.resume(job.id)
      expect(resumed).toMatchObject({ status: "pending", nextRunAt: 6 * minute })
      expect((yield* Posted.all).at(-1)).toMatchObject({ dueAt: 6 * minute })
      yield* deliverLast
      expect((yield* Runs.all).map((r) => r.dueAt)).toEqual([6 * minute])
      yield* handler.fire((yield* Posted.all)[0]!)
      expect(yield* Runs.all).toHaveLength(1)
    }).pipe(Effect.provide(kit({}))))

  it.effect("amending the timing moves the next firing, the old one is ignored; a bad cron names its field", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const job = yield* scheduler.schedule(requester, { strategy: "message", payload: "tick", delaySeconds: 60 })
      const old = (yield* Posted.all)[0]!
      const amended = yield* scheduler.amend(job.id, { payload: "tock", timing: { delaySeconds: 120 } })
      expect(amended).toMatchObject({ payload: "tock", nextRunAt: 2 * minute, status: "pending" })
      const invalid = yield* Effect.flip(scheduler.amend(job.id, { timing: { cron: "nope" } }))
      expect(invalid).toMatchObject({ _tag: "ScheduleError", field: "cron" })
      yield* TestClock.setTime(old.at)
      yield* Effect.flatMap(FiringHandler, (handler) => handler.fire(old))
      expect(yield* Runs.all).toEqual([])
      yield* deliverLast
      expect((yield* Runs.all).map((r) => [r.dueAt, r.job.payload])).toEqual([[2 * minute, "tock"]])
      const done = yield* Effect.flip(scheduler.amend(job.id, { payload: "too late" }))
      expect(done).toMatchObject({ _tag: "JobRefused", message: expect.stringContaining("completed") })
    }).pipe(Effect.provide(kit({}))))
})
