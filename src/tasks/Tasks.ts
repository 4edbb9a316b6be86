/**
 * Tasks: a job with a strategy, seen through its lifecycle `queued -> running -> completed |
 * failed | cancelled` and its history (one entry per run: due time, lateness, attempts, result or
 * error). Tasks are the scheduler's jobs (one table, one source of truth); `schedule_prompt`
 * creates `llm_prompt` tasks. Run now, after a delay, at a time, or on an interval or cron.
 * Also the chat commands `/tasks`, `/tasks cancel ID` and `/tasks show ID` (`command`).
 */
import { Clock, Effect, Option } from "effect"
import * as Job from "../scheduler/Job.ts"
import type { JobRun } from "../scheduler/JobStore.ts"
import type { NewJob } from "../scheduler/NewJob.ts"
import { type Requester, Scheduler } from "../scheduler/Scheduler.ts"

export const TaskStatus = ["queued", "running", "completed", "failed", "cancelled"] as const
export type TaskStatus = typeof TaskStatus[number]

export const statusOf = (job: Job.Job): TaskStatus => (job.status === "pending" ? "queued" : job.status)

const jobStatusesOf = (status: TaskStatus): ReadonlyArray<Job.JobStatus> => [status === "queued" ? "pending" : status]

export interface TaskQuery {
  readonly status?: TaskStatus
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

const chatListLimit = 20

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
        ...(query.status === undefined ? {} : { statuses: jobStatusesOf(query.status) }),
        ...(query.createdFrom === undefined ? {} : { createdFrom: query.createdFrom }),
        ...(query.createdTo === undefined ? {} : { createdTo: query.createdTo })
      })

    const show = (ownerId: string, id: string) =>
      Effect.all({ job: scheduler.get(ownerId, id), runs: scheduler.history(ownerId, id) })

    const cancel = (ownerId: string, id: string) => scheduler.cancel(ownerId, id)

    const describeLine = (job: Job.Job) => {
      const what = job.strategy === "llm_prompt" ? job.payload : `${job.strategy}: ${job.payload}`
      const short = what.length > 60 ? what.slice(0, 59) + "…" : what
      const when = job.nextRunAt === null
        ? job.lastRunAt === null ? "" : ` (last run ${Job.formatInZone(job.lastRunAt, job.timezone)})`
        : ` next ${Job.formatInZone(job.nextRunAt, job.timezone)}`
      const every = job.recurrence.kind === "interval"
        ? `, every ${job.recurrence.seconds} s`
        : job.recurrence.kind === "cron"
        ? `, cron "${job.recurrence.expression}"`
        : ""
      return `${job.id} [${statusOf(job)}] ${short} —${when}${every}`
    }

    /** `/tasks`: the owner's active tasks, then the latest finished ones. */
    const renderForChat = (ownerId: string) =>
      Effect.gen(function*() {
        const active = yield* scheduler.list(ownerId, { activeOnly: true, limit: chatListLimit, offset: 0 })
        const recent = yield* scheduler.list(ownerId, {
          activeOnly: false,
          statuses: ["completed", "failed", "cancelled"],
          limit: 5,
          offset: 0
        })
        if (
          active.total === 0 && recent.total === 0
        ) return "No tasks. Ask me to remind you of something, or to check a page later."
        const lines: Array<string> = []
        lines.push(active.total === 0 ? "No active tasks." : `Active tasks (${active.total}):`)
        lines.push(...active.jobs.map(describeLine))
        if (active.total > active.jobs.length) lines.push(`… and ${active.total - active.jobs.length} more`)
        if (recent.jobs.length > 0) {
          lines.push("", "Recently finished:")
          lines.push(...recent.jobs.map(describeLine))
        }
        lines.push("", "/tasks cancel ID cancels one; /tasks show ID shows its history.")
        return lines.join("\n")
      })

    /** `/tasks cancel ID`: the reply text (another owner's task is "not found"). */
    const cancelFromChat = (ownerId: string, id: string) =>
      cancel(ownerId, id).pipe(
        Effect.map((job) => `Cancelled ${job.id}.`),
        Effect.catchTags({
          JobNotFound: () => Effect.succeed(`No task ${id}. /tasks lists yours.`),
          ScheduleError: (e) => Effect.succeed(`Cannot cancel ${id}: ${e.message}.`)
        })
      )

    /** `/tasks show ID`: the task and its latest runs. */
    const showFromChat = (ownerId: string, id: string) =>
      show(ownerId, id).pipe(
        Effect.map(({ job, runs }) =>
          [
            describeLine(job),
            ...(job.lastError === null ? [] : [`last error: ${job.lastError}`]),
            runs.length === 0 ? "No runs yet." : "Runs:",
            ...runs.slice(0, 10).map((r) =>
              `- ${Job.formatInZone(r.dueAt, job.timezone)} ${r.status}, ${r.attempt + 1} attempt(s)` +
              (r.lateMs >= 1000 ? `, ${Math.round(r.lateMs / 1000)} s late` : "") +
              (r.error === null ? "" : `: ${r.error}`)
            )
          ].join("\n")
        ),
        Effect.catchTag("JobNotFound", () => Effect.succeed(`No task ${id}. /tasks lists yours.`))
      )

    /**
     * The reply to a `/tasks ...` chat command, or none when `text` is not one. For channel
     * intakes: call it before submitting a message to the conversation.
     */
    const command = (ownerId: string, text: string): Effect.Effect<Option.Option<string>> => {
      const match = /^\/tasks(?:@\w+)?(?:\s+(\S+)(?:\s+(\S+))?)?\s*$/i.exec(text.trim())
      if (!match) return Effect.succeed(Option.none())
      const [, verb, id] = match
      const reply = verb === undefined
        ? renderForChat(ownerId)
        : (verb.toLowerCase() === "cancel" || verb.toLowerCase() === "show") && id !== undefined
        ? verb.toLowerCase() === "cancel" ? cancelFromChat(ownerId, id) : showFromChat(ownerId, id)
        : Effect.succeed("Usage: /tasks, /tasks cancel ID, /tasks show ID")
      return Effect.map(reply, Option.some)
    }

    return { create, list, show, cancel, renderForChat, cancelFromChat, showFromChat, command } as const
  })
}) {}
