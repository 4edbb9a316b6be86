/**
 * Scheduled jobs: validated and stored as rows (what people list and cancel), fired through the
 * conversation actors' durable mailboxes (`Actors.post`): each due time is one stored message,
 * delivered no earlier than that time and at most once per (job, due time, attempt). A wake-up
 * timer reads the mailboxes at the next due time, so a job fires within milliseconds of it
 * instead of at the next poll; the poll stays as a safety net.
 */
import { Clock, Data, Duration, Effect, Option, Queue, Schema } from "effect"
import { RuntimeSettings, SchedulerSettings, StorageSettings } from "../config/Config.ts"
import type { ConversationRef } from "../domain/Conversation.ts"
import { JobFiring } from "../domain/JobFiring.ts"
import { Actors } from "../runtime/Actors.ts"
import { UserTimezones } from "../tools/timezone/UserTimezones.ts"
import * as Job from "./Job.ts"
import { JobStore, type ListQuery } from "./JobStore.ts"
import { firstProblem, type NewJob, newJob } from "./NewJob.ts"

/** A request that cannot be scheduled; `field` names the argument at fault. */
export class ScheduleError extends Data.TaggedError("ScheduleError")<{
  readonly message: string
  readonly field?: string
}> {}

export class JobNotFound extends Data.TaggedError("JobNotFound")<{ readonly id: string }> {
  override get message() {
    return `no scheduled job with id ${JSON.stringify(this.id)}`
  }
}

/** The operator asked for something the job's state does not allow (run a cancelled job, pause a paused one). */
export class JobRefused extends Data.TaggedError("JobRefused")<{ readonly message: string }> {}

/** What `amend` may change: the payload, and the timing (all of it, as in a new request). */
export interface JobChanges {
  readonly payload?: string
  readonly timing?: Omit<NewJob, "strategy" | "payload">
  /** Without a new timing: whether runs send their result. */
  readonly notify?: boolean
}

/** Who asks, and where the job's output goes: from the channel, never from the model. */
export interface Requester {
  readonly ownerId: string
  readonly conversation: ConversationRef
  readonly userId: string | null
}

/** Re-reads the earliest due time at least this often (on Postgres: every poll interval). */
const wakeRefresh = Duration.seconds(10)
const reconcilePage = 500

export class Scheduler extends Effect.Service<Scheduler>()("minibot/Scheduler", {
  scoped: Effect.gen(function*() {
    const settings = yield* SchedulerSettings
    const runtime = yield* RuntimeSettings
    const storage = yield* StorageSettings
    const store = yield* JobStore
    const mailbox = yield* Actors
    const timezones = yield* UserTimezones
    /** The zone of a request that names none is the owner's own, else this. */
    const defaultZone = settings.timezone ?? runtime.timezone
    // On a shared database, jobs created by another runner may be due on our shards: look often.
    const refresh = storage.backend === "postgres"
      ? Duration.min(wakeRefresh, Duration.millis(settings.poll_interval_ms))
      : wakeRefresh

    /** Retry times posted by this process: the table only shows due times (`next_run_at`). */
    const hints: Array<number> = []
    const wakeSignal = yield* Queue.sliding<void>(1)

    /** Stores a firing in its conversation's mailbox and makes sure the reader wakes for it. */
    const post = (firing: JobFiring) =>
      Effect.gen(function*() {
        yield* mailbox.post(firing)
        if (firing.attempt > 0) {
          const index = hints.findIndex((t) => t > firing.at)
          hints.splice(index === -1 ? hints.length : index, 0, firing.at)
        }
        // The timer re-reads the earliest due time, which may now be this one.
        yield* wakeSignal.offer(undefined)
      })

    const firstFiring = (job: Job.Job) =>
      new JobFiring({
        jobId: job.id,
        dueAt: job.nextRunAt!,
        attempt: 0,
        at: job.nextRunAt!,
        conversation: job.conversation
      })

    /** Validates a request into a job (not stored). */
    const build = (requester: Requester, spec: NewJob, now: number, ownerZone: string) =>
      Schema.decode(newJob({ now, defaultZone: ownerZone, minIntervalSeconds: settings.min_interval_seconds }))(spec)
        .pipe(
          Effect.mapError((error) => new ScheduleError(firstProblem(error))),
          Effect.map((plan): Job.Job => ({
            id: Job.newJobId(),
            ownerId: requester.ownerId,
            conversation: requester.conversation,
            userId: requester.userId,
            strategy: plan.strategy,
            payload: plan.payload,
            recurrence: plan.recurrence,
            timezone: plan.timezone,
            runAt: plan.firstRunAt,
            nextRunAt: plan.firstRunAt,
            endAt: plan.endAt,
            notify: plan.notify,
            status: "pending",
            attempts: 0,
            runs: 0,
            lastRunAt: null,
            lastError: null,
            createdAt: now,
            updatedAt: now
          }))
        )

    /** Validates, stores and arms a job; returns it with its id and first due time. */
    const schedule = Effect.fn("Scheduler.schedule")(function*(requester: Requester, spec: NewJob) {
      const now = yield* Clock.currentTimeMillis
      const ownerZone = yield* timezones.zoneOr(requester.ownerId, defaultZone).pipe(Effect.orDie)
      const job = yield* build(requester, spec, now, ownerZone)
      const active = yield* store.list(requester.ownerId, { activeOnly: true, limit: 1, offset: 0 }).pipe(Effect.orDie)
      if (active.total >= settings.max_jobs_per_owner) {
        return yield* new ScheduleError({
          message: `you already have ${active.total} active scheduled jobs, the most allowed ` +
            `([scheduler] max_jobs_per_owner = ${settings.max_jobs_per_owner}); cancel one first`
        })
      }
      yield* store.insert(job).pipe(Effect.orDie)
      // If the post is lost (a crash right here), start-up reconciliation posts it again.
      yield* post(firstFiring(job)).pipe(Effect.orDie)
      yield* Effect.logInfo("job scheduled").pipe(
        Effect.annotateLogs({
          job_id: job.id,
          strategy: job.strategy,
          recurrence: job.recurrence.kind,
          due_at: job.nextRunAt
        })
      )
      return job
    })

    const list = (ownerId: string, query: ListQuery) => store.list(ownerId, query).pipe(Effect.orDie)

    const get = (ownerId: string, id: string) =>
      store.owned(ownerId, id).pipe(
        Effect.orDie,
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(new JobNotFound({ id })), onSome: Effect.succeed }))
      )

    /** Cancels an active job of the owner; another owner's job is "not found". */
    const cancel = Effect.fn("Scheduler.cancel")(function*(ownerId: string, id: string) {
      const job = yield* get(ownerId, id)
      if (!Job.isActive(job)) {
        return yield* new ScheduleError({ field: "id", message: `job ${id} is already ${job.status}` })
      }
      const now = yield* Clock.currentTimeMillis
      const cancelled = yield* store.cancel(ownerId, id, now).pipe(Effect.orDie)
      if (!cancelled) return yield* new ScheduleError({ field: "id", message: `job ${id} is no longer active` })
      yield* Effect.logInfo("job cancelled").pipe(Effect.annotateLogs("job_id", id))
      return { ...job, status: "cancelled" as const, nextRunAt: null, updatedAt: now }
    })

    /** Any owner's job (the operator's view). */
    const find = (id: string) =>
      store.byId(id).pipe(
        Effect.orDie,
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(new JobNotFound({ id })), onSome: Effect.succeed }))
      )

    const refuse = (job: Job.Job, action: string) =>
      new JobRefused({ message: `job ${job.id} is ${job.status}: it cannot be ${action}` })

    /** Runs a job once now, in its conversation, without moving its schedule; returns the run's due time. */
    const runNow = Effect.fn("Scheduler.runNow")(function*(id: string) {
      const job = yield* find(id)
      if (job.status === "cancelled") return yield* refuse(job, "run")
      const now = yield* Clock.currentTimeMillis
      yield* post(
        new JobFiring({ jobId: job.id, dueAt: now, attempt: 0, at: now, conversation: job.conversation, manual: true })
      ).pipe(Effect.orDie)
      yield* mailbox.wake
      yield* Effect.logInfo("job run now by the operator").pipe(Effect.annotateLogs("job_id", id))
      return now
    })

    /** Pauses a pending job: its due firing is ignored, no other is posted until it is resumed. */
    const pause = Effect.fn("Scheduler.pause")(function*(id: string) {
      const job = yield* find(id)
      const now = yield* Clock.currentTimeMillis
      if (job.status !== "pending" || !(yield* store.pause(id, now).pipe(Effect.orDie))) {
        return yield* refuse(job, "paused")
      }
      yield* Effect.logInfo("job paused").pipe(Effect.annotateLogs("job_id", id))
      return yield* find(id)
    })

    /**
     * Resumes a paused job from now: a recurring job's next slot after now (slots missed while
     * paused are not replayed), a one-shot job at its time, or now when that has passed.
     */
    const resume = Effect.fn("Scheduler.resume")(function*(id: string) {
      const job = yield* find(id)
      if (job.status !== "paused") return yield* refuse(job, "resumed")
      const now = yield* Clock.currentTimeMillis
      const next = job.recurrence.kind === "none"
        ? Math.max(job.runAt, now)
        : Job.nextRunAfter(job, now)
      if (!(yield* store.resume(id, next, now).pipe(Effect.orDie))) return yield* refuse(yield* find(id), "resumed")
      const resumed = yield* find(id)
      if (next !== null) yield* post(firstFiring(resumed)).pipe(Effect.orDie)
      yield* Effect.logInfo("job resumed").pipe(Effect.annotateLogs({ job_id: id, due_at: next }))
      return resumed
    })

    /** Runs a failed job again now, from its first attempt (a new due time: the failed run stays in its history). */
    const retry = Effect.fn("Scheduler.retry")(function*(id: string) {
      const job = yield* find(id)
      const now = yield* Clock.currentTimeMillis
      if (job.status !== "failed" || !(yield* store.reopen(id, now, now).pipe(Effect.orDie))) {
        return yield* new JobRefused({ message: `job ${id} is ${job.status}: only a failed job can be retried` })
      }
      const reopened = yield* find(id)
      yield* post(firstFiring(reopened)).pipe(Effect.orDie)
      yield* mailbox.wake
      yield* Effect.logInfo("failed job retried by the operator").pipe(Effect.annotateLogs("job_id", id))
      return reopened
    })

    /** Changes a pending or paused job's payload and/or timing (validated like a new request). */
    const amend = Effect.fn("Scheduler.amend")(function*(id: string, changes: JobChanges) {
      const job = yield* find(id)
      if (job.status !== "pending" && job.status !== "paused") return yield* refuse(job, "changed")
      const now = yield* Clock.currentTimeMillis
      const payload = changes.payload ?? job.payload
      let updated: Job.Job = { ...job, payload, notify: changes.notify ?? job.notify, updatedAt: now }
      if (changes.timing !== undefined) {
        const zone = changes.timing.timezone ?? job.timezone
        const built = yield* build(
          { ownerId: job.ownerId, conversation: job.conversation, userId: job.userId },
          { strategy: job.strategy, payload, notify: job.notify, ...changes.timing },
          now,
          zone
        )
        updated = {
          ...updated,
          recurrence: built.recurrence,
          timezone: built.timezone,
          runAt: built.runAt,
          nextRunAt: job.status === "paused" ? null : built.nextRunAt,
          endAt: built.endAt,
          notify: built.notify
        }
      }
      if (!(yield* store.amend(updated, now).pipe(Effect.orDie))) return yield* refuse(yield* find(id), "changed")
      // The firing of the old due time finds the job moved on and is ignored.
      if (updated.status === "pending" && updated.nextRunAt !== job.nextRunAt) {
        yield* post(firstFiring(updated)).pipe(Effect.orDie)
      }
      yield* Effect.logInfo("job changed by the operator").pipe(
        Effect.annotateLogs({ job_id: id, due_at: updated.nextRunAt })
      )
      return yield* find(id)
    })

    const history = (ownerId: string, id: string, limit = 20) =>
      Effect.zipRight(get(ownerId, id), store.runs(ownerId, id, limit).pipe(Effect.orDie))

    /** Sleeps until the next due time (or a new earlier one), then has the mailboxes read. */
    const waker = Effect.gen(function*() {
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        while (hints.length > 0 && hints[0]! <= now) hints.shift()
        const fromDb = yield* store.nextDue(now).pipe(
          Effect.catchAllCause((cause) => Effect.as(Effect.logWarning("reading the next due time failed", cause), null))
        )
        const due = Math.min(fromDb ?? Infinity, hints[0] ?? Infinity)
        const target = Math.min(due, now + Duration.toMillis(refresh))
        const timedOut = yield* Effect.race(
          Effect.as(Effect.sleep(Duration.millis(Math.max(0, target - now))), true),
          Effect.as(wakeSignal.take, false)
        )
        if (timedOut && target === due) yield* mailbox.wake
      }
    })

    /** Re-posts the firing of every pending job whose message is missing (a crash between commit and post). */
    const reconcile = Effect.gen(function*() {
      let after = ""
      let reposted = 0
      for (;;) {
        const page = yield* store.pending(after, reconcilePage)
        if (page.length === 0) break
        after = page.at(-1)!.id
        const missing = yield* mailbox.unposted(page.map(firstFiring))
        for (const firing of missing) yield* post(firing)
        reposted += missing.length
      }
      if (reposted > 0) {
        yield* Effect.logWarning("re-posted lost job firings").pipe(Effect.annotateLogs("count", reposted))
      }
    }).pipe(Effect.catchAllCause((cause) => Effect.logError("job reconciliation failed", cause)))

    if (settings.enabled) {
      yield* reconcile.pipe(Effect.zipRight(waker), Effect.annotateLogs("component", "scheduler"), Effect.forkScoped)
    }

    return {
      schedule,
      list,
      get,
      cancel,
      history,
      post,
      find,
      runNow,
      pause,
      resume,
      amend,
      retry,
      settings,
      defaultZone
    } as const
  }),
  dependencies: [JobStore.Default, UserTimezones.Default]
}) {}
