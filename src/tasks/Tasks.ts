/**
 * Tasks: a job with a strategy, seen through its lifecycle `queued -> running -> completed |
 * failed | cancelled` and its history (one entry per run: due time, lateness, attempts, result or
 * error). Tasks are the scheduler's jobs (one table, one source of truth); `schedule_prompt`
 * creates `llm_prompt` tasks. Run now, after a delay, at a time, or on an interval or cron.
 * How tasks read in a chat (`/tasks`) is the commands' business (`commands/TaskReplies.ts`).
 */
import { Clock, Effect } from "effect"
import * as Job from "../scheduler/Job.ts"
import type { JobRun } from "../scheduler/JobStore.ts"
import type { NewJob } from "../scheduler/NewJob.ts"
import { type Requester, Scheduler } from "../scheduler/Scheduler.ts"

export const TaskStatus = ["queued", "running", "paused", "completed", "failed", "cancelled"] as const
export type TaskStatus = typeof TaskStatus[number]

export const statusOf = (job: Job.Job): TaskStatus => (job.status === "pending" ? "queued" : job.status)

const jobStatusOf = (status: TaskStatus): Job.JobStatus => status === "queued" ? "pending" : status

export interface TaskQuery {
  /** One status, or any of several. */
  readonly status?: TaskStatus | ReadonlyArray<TaskStatus>
  readonly kind?: Job.StrategyName
  /** Created at or after / before (epoch ms). */
  readonly createdFrom?: number
  readonly createdTo?: number
  readonly limit: number
  readonly offset: number
}

export const runToJson = (run: JobRun, timezone: string) => ({
  due_at: Job.formatInZone(run.dueAt, timezone),
  status: run.status,
  attempts: run.attempt + 1,
  late_ms: run.lateMs,
  started_at: Job.formatInZone(run.startedAt, timezone),
  finished_at: run.finishedAt === null ? null : Job.formatInZone(run.finishedAt, timezone),
  ...(run.result === null ? {} : { result: run.result.length > 500 ? run.result.slice(0, 500) + "…" : run.result }),
  ...(run.error === null ? {} : { error: run.error })
})

export const taskToJson = (job: Job.Job) => ({ ...Job.toJson(job), status: statusOf(job) })

export class Tasks extends Effect.Service<Tasks>()("minibot/Tasks", {
  effect: Effect.gen(function*() {
    const scheduler = yield* Scheduler

    /** Creates a task; with no time given it runs now. */
    const create = Effect.fn("Tasks.create")(function*(requester: Requester, spec: NewJob) {
      const immediate = spec.runAt === undefined && spec.delaySeconds === undefined &&
        spec.intervalSeconds === undefined &&
        spec.cron === undefined
      const now = yield* Clock.currentTimeMillis
      return yield* scheduler.schedule(requester, immediate ? { ...spec, runAt: new Date(now).toISOString() } : spec)
    })

    const list = (ownerId: string, query: TaskQuery) =>
      scheduler.list(ownerId, {
        activeOnly: false,
        limit: query.limit,
        offset: query.offset,
        ...(query.kind === undefined ? {} : { strategies: [query.kind] }),
        ...(query.status === undefined
          ? {}
          : { statuses: (typeof query.status === "string" ? [query.status] : query.status).map(jobStatusOf) }),
        ...(query.createdFrom === undefined ? {} : { createdFrom: query.createdFrom }),
        ...(query.createdTo === undefined ? {} : { createdTo: query.createdTo })
      })

    const show = (ownerId: string, id: string) =>
      Effect.all({ job: scheduler.get(ownerId, id), runs: scheduler.history(ownerId, id) })

    const cancel = (ownerId: string, id: string) => scheduler.cancel(ownerId, id)

    return { create, list, show, cancel } as const
  })
}) {}
