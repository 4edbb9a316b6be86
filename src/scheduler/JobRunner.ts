/**
 * What happens when a firing is delivered (inside the job's conversation actor, so it never
 * interleaves with that chat's own turns):
 *
 * 1. In one transaction: check the row (cancelled? already fired for this due time? a stale
 *    firing of an older due time?), claim the firing in `job_runs`, compute the next due time
 *    and store it on the job.
 * 2. Post the next firing (its own due time, its own primary key).
 * 3. Run the job's strategy. A redelivery after a crash re-runs it with the same turn message id,
 *    so the turn ledger answers it once.
 * 4. Record the outcome; a failure is retried with backoff (a new firing at a later time) up to
 *    `[scheduler] default_retry_limit`, then the job is `failed` and the person is told once.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Cause, Clock, Context, Data, Duration, Effect, Layer, Metric, Option, type ParseResult } from "effect"
import { Bus, BusEvent } from "../bus/Bus.ts"
import { Outbound } from "../channels/Outbound.ts"
import { SchedulerSettings } from "../config/Config.ts"
import { keyOf } from "../domain/Conversation.ts"
import { JobFiring } from "../domain/JobFiring.ts"
import * as Metrics from "../observability/Metrics.ts"
import { TaskStrategies } from "../tasks/Strategies.ts"
import { StrategyOutcome } from "../tasks/TaskStrategy.ts"
import * as Job from "./Job.ts"
import { JobStore } from "./JobStore.ts"
import { Scheduler } from "./Scheduler.ts"

/** A recurring job later than this is "missed" (`missed_run_policy = "skip"` skips it). */
const missedAfter = Duration.minutes(1)
const maxRetryDelay = Duration.minutes(30)

/** What the claim transaction decided to do with a firing. */
type Claim = Data.TaggedEnum<{
  Ignore: { readonly why: string }
  Skip: { readonly job: Job.Job; readonly next: number | null }
  Run: { readonly job: Job.Job; readonly next: number | null; readonly lateMs: number }
  /** The last attempt failed and the process died before the person was told. */
  Notify: { readonly job: Job.Job; readonly attempts: number; readonly reason: string }
}>
const Claim = Data.taggedEnum<Claim>()

/** Runs a due firing; the conversation actors call it for each `JobFiring` in their mailbox. */
export class FiringHandler extends Context.Tag("minibot/FiringHandler")<FiringHandler, {
  readonly fire: (firing: JobFiring) => Effect.Effect<void>
}>() {}

export const failureNotice = (job: Job.Job, attempts: number, reason: string) =>
  `Your scheduled ${job.strategy === "llm_prompt" ? "prompt" : "task"} ${job.id} could not run after ${attempts} ` +
  `attempt${attempts === 1 ? "" : "s"}: ${reason}.` +
  (job.nextRunAt === null ? "" : ` It will run again at ${Job.formatInZone(job.nextRunAt, job.timezone)}.`)

export const layer = Layer.effect(
  FiringHandler,
  Effect.gen(function*() {
    const settings = yield* SchedulerSettings
    const store = yield* JobStore
    const scheduler = yield* Scheduler
    const strategies = yield* TaskStrategies
    const outbound = yield* Outbound
    const bus = yield* Bus
    const retryBase = Duration.millis(settings.retry_backoff_ms)

    const claim = (firing: JobFiring, now: number): Effect.Effect<Claim, SqlError | ParseResult.ParseError> =>
      Effect.gen(function*() {
        const found = yield* store.byId(firing.jobId)
        if (Option.isNone(found)) return Claim.Ignore({ why: "the job no longer exists" })
        const job = found.value
        const run = yield* store.run(job.id, firing.dueAt)
        if (job.status === "cancelled") {
          if (Option.isSome(run) && run.value.status === "running") {
            yield* store.updateRun(job.id, firing.dueAt, { status: "cancelled", finished_at: now })
          }
          return Claim.Ignore({ why: "the job was cancelled" })
        }
        const lateMs = Math.max(0, now - firing.dueAt)
        if (
          Option.isSome(run) && run.value.status === "failed" && !run.value.notified &&
          run.value.attempt === firing.attempt
        ) {
          return Claim.Notify({ job, attempts: firing.attempt + 1, reason: run.value.error ?? "unknown error" })
        }
        if (firing.manual && firing.attempt === 0) {
          if (Option.isSome(run)) {
            return run.value.status === "running" && run.value.attempt === 0
              ? Claim.Run({ job, next: null, lateMs: run.value.lateMs })
              : Claim.Ignore({ why: `this manual run already ran (${run.value.status})` })
          }
          // Run now, once: the job's schedule (status, next due time) stays as it is.
          yield* store.update(job.id, { runs: job.runs + 1, last_run_at: now }, now)
          yield* store.insertRun({
            jobId: job.id,
            dueAt: firing.dueAt,
            attempt: 0,
            status: "running",
            lateMs,
            startedAt: now,
            finishedAt: null,
            result: null,
            error: null,
            notified: false
          })
          return Claim.Run({ job, next: null, lateMs })
        }
        if (firing.attempt > 0) {
          if (Option.isNone(run) || run.value.status !== "running" || run.value.attempt > firing.attempt) {
            return Claim.Ignore({ why: "the retry is no longer needed" })
          }
          // Equal: this retry was running when the process died; it runs again (deduped by the ledger).
          if (run.value.attempt < firing.attempt) {
            yield* store.updateRun(job.id, firing.dueAt, { attempt: firing.attempt })
            yield* store.update(job.id, { attempts: firing.attempt + 1 }, now)
          }
          return Claim.Run({ job, next: null, lateMs })
        }
        if (Option.isSome(run)) {
          // Redelivered after a crash mid-run: run it again (the turn ledger dedupes the reply).
          return run.value.status === "running" && run.value.attempt === 0
            ? Claim.Run({ job, next: null, lateMs: run.value.lateMs })
            : Claim.Ignore({ why: `this due time already ran (${run.value.status})` })
        }
        if (job.status !== "pending" || job.nextRunAt !== firing.dueAt) {
          return Claim.Ignore({ why: "a stale firing (the job moved on)" })
        }
        const recurring = job.recurrence.kind !== "none"
        // Missed slots are not replayed: the next one is the first after now.
        const next = recurring ? Job.nextRunAfter(job, Math.max(firing.dueAt, now)) : null
        const skip = !settings.enabled ||
          (recurring && settings.missed_run_policy === "skip" && lateMs > Duration.toMillis(missedAfter))
        const advanced = yield* store.advance(job.id, firing.dueAt, {
          next_run_at: next,
          status: next !== null ? "pending" : skip ? "completed" : "running",
          ...(skip ? {} : { runs: job.runs + 1, attempts: 1, last_run_at: now })
        }, now)
        if (!advanced) return Claim.Ignore({ why: "the job changed meanwhile (cancelled?)" })
        yield* store.insertRun({
          jobId: job.id,
          dueAt: firing.dueAt,
          attempt: 0,
          status: skip ? "skipped" : "running",
          lateMs,
          startedAt: now,
          finishedAt: skip ? now : null,
          result: skip ? (settings.enabled ? "missed while the daemon was down" : "the scheduler is disabled") : null,
          error: null,
          notified: false
        })
        const updated: Job.Job = { ...job, nextRunAt: next }
        return skip ? Claim.Skip({ job: updated, next }) : Claim.Run({ job: updated, next, lateMs })
      })

    const postNext = (job: Job.Job, next: number | null) =>
      next === null ? Effect.void : scheduler.post(
        new JobFiring({ jobId: job.id, dueAt: next, attempt: 0, at: next, conversation: job.conversation })
      ).pipe(
        Effect.retry({ times: 3 }),
        Effect.catchAllCause((cause) => Effect.logError("posting the next firing failed", cause))
      )

    /**
     * Tells the person once that a run failed for good (unless `notify = false`). The flag is set
     * right after the notice: a crash before the notice sends it on redelivery, a crash in the
     * gap between the two could repeat it.
     */
    const notifyFailure = (job: Job.Job, dueAt: number, attempts: number, reason: string) =>
      Effect.gen(function*() {
        if (job.notify) {
          yield* outbound.deliver({
            conversation: job.conversation,
            text: failureNotice(job, attempts, reason),
            kind: "notice"
          }).pipe(
            Effect.catchAll((e) => Effect.logError("the failure notice could not be delivered", e))
          )
        }
        yield* store.updateRun(job.id, dueAt, { notified: 1 })
      })

    /** Runs a claimed firing's strategy and records its outcome (a retry, or the end of the run). */
    const execute = (firing: JobFiring, job: Job.Job, lateMs: number, now: number) =>
      Effect.gen(function*() {
        yield* Effect.logInfo("job firing").pipe(Effect.annotateLogs({ late_ms: lateMs, attempt: firing.attempt }))
        yield* bus.publish(BusEvent.JobFired({
          conversation: keyOf(job.conversation),
          jobId: job.id,
          dueAt: firing.dueAt,
          attempt: firing.attempt,
          lateMs,
          manual: firing.manual
        }))
        yield* Metric.increment(Metrics.jobRuns)
        if (firing.attempt === 0) {
          yield* Metric.update(Metrics.jobLateness, lateMs / 1000)
        }
        const outcome = yield* strategies.get(job.strategy).run({
          job,
          dueAt: firing.dueAt,
          attempt: firing.attempt,
          lateMs
        })
        const end = yield* Clock.currentTimeMillis
        yield* StrategyOutcome.$match(outcome, {
          Done: ({ summary }) => completed(firing, job, summary, end - now, end),
          Failed: ({ reason }) =>
            firing.attempt < settings.default_retry_limit
              ? retry(firing, job, reason, end)
              : failedForGood(firing, job, reason, end)
        })
      })

    const completed = (firing: JobFiring, job: Job.Job, summary: string, durationMs: number, end: number) =>
      Effect.gen(function*() {
        yield* store.transaction(Effect.zipRight(
          store.updateRun(job.id, firing.dueAt, {
            status: "completed",
            finished_at: end,
            result: summary,
            error: null
          }),
          store.finish(job.id, "completed", null, end)
        ))
        yield* Effect.logInfo("job run completed").pipe(Effect.annotateLogs("duration_ms", durationMs))
      })

    const retry = (firing: JobFiring, job: Job.Job, reason: string, end: number) =>
      Effect.gen(function*() {
        const delay = Duration.min(Duration.times(retryBase, 2 ** firing.attempt), maxRetryDelay)
        yield* store.updateRun(job.id, firing.dueAt, { error: reason })
        yield* Effect.logWarning("job run failed: retrying").pipe(
          Effect.annotateLogs({ reason, retry_in_ms: Duration.toMillis(delay) })
        )
        yield* scheduler.post(
          new JobFiring({
            jobId: job.id,
            dueAt: firing.dueAt,
            attempt: firing.attempt + 1,
            at: end + Duration.toMillis(delay),
            conversation: job.conversation,
            manual: firing.manual
          })
        )
      })

    const failedForGood = (firing: JobFiring, job: Job.Job, reason: string, end: number) =>
      Effect.gen(function*() {
        const attempts = firing.attempt + 1
        yield* store.transaction(Effect.zipRight(
          store.updateRun(job.id, firing.dueAt, { status: "failed", finished_at: end, error: reason }),
          store.finish(job.id, "failed", reason, end)
        ))
        yield* Effect.logError("job run failed after its retries").pipe(Effect.annotateLogs({ reason, attempts }))
        yield* Metric.increment(Metrics.jobFailures)
        yield* notifyFailure(job, firing.dueAt, attempts, reason)
      })

    const fire = (firing: JobFiring): Effect.Effect<void> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* store.transaction(claim(firing, now))
        yield* Claim.$match(claimed, {
          Ignore: ({ why }) => Effect.logInfo(`firing ignored: ${why}`),
          Notify: ({ attempts, job, reason }) => notifyFailure(job, firing.dueAt, attempts, reason),
          Skip: ({ job, next }) => Effect.zipRight(postNext(job, next), Effect.logInfo("missed run skipped")),
          Run: ({ job, lateMs, next }) => Effect.zipRight(postNext(job, next), execute(firing, job, lateMs, now))
        })
      }).pipe(
        Effect.catchAllCause((cause) =>
          // Interrupted (shutting down): the mailbox delivers the firing again on the next start.
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logError("job firing crashed", cause)
        ),
        Effect.annotateLogs({ component: "scheduler", job_id: firing.jobId, due_at: firing.dueAt }),
        Effect.orDie
      )

    return { fire }
  })
)
