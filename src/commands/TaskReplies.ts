/**
 * The chat face of tasks: the texts of `/tasks`, `/tasks show ID` and `/tasks cancel ID`. The
 * `Tasks` service knows tasks; how they read in a chat is decided here, beside the commands.
 */
import { Effect } from "effect"
import * as Job from "../scheduler/Job.ts"
import { statusOf, Tasks } from "../tasks/Tasks.ts"

const listLimit = 20
const recentLimit = 5
const runsShown = 10
const summaryLength = 60

export const usage = "Usage: /tasks, /tasks show ID, /tasks cancel ID"
const verbUsage = "Usage: /tasks, /tasks cancel ID, /tasks show ID"
const noTasks = "No tasks. Ask me to remind you of something, or to check a page later."
const notFound = (id: string) => `No task ${id}. /tasks lists yours.`

/** One task on one line: id, status, what it does, when it runs next. */
export const describeLine = (job: Job.Job): string => {
  const what = job.strategy === "llm_prompt" ? job.payload : `${job.strategy}: ${job.payload}`
  const short = what.length > summaryLength ? what.slice(0, summaryLength - 1) + "…" : what
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
const listing = (tasks: Tasks, ownerId: string) =>
  Effect.gen(function*() {
    const active = yield* tasks.list(ownerId, { status: ["queued", "running"], limit: listLimit, offset: 0 })
    const recent = yield* tasks.list(ownerId, {
      status: ["completed", "failed", "cancelled"],
      limit: recentLimit,
      offset: 0
    })
    if (active.total === 0 && recent.total === 0) return noTasks
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

/** `/tasks cancel ID` (another owner's task is "not found"). */
const cancelling = (tasks: Tasks, ownerId: string, id: string) =>
  tasks.cancel(ownerId, id).pipe(
    Effect.map((job) => `Cancelled ${job.id}.`),
    Effect.catchTags({
      JobNotFound: () => Effect.succeed(notFound(id)),
      ScheduleError: (e) => Effect.succeed(`Cannot cancel ${id}: ${e.message}.`)
    })
  )

/** `/tasks show ID`: the task and its latest runs. */
const showing = (tasks: Tasks, ownerId: string, id: string) =>
  tasks.show(ownerId, id).pipe(
    Effect.map(({ job, runs }) =>
      [
        describeLine(job),
        ...(job.lastError === null ? [] : [`last error: ${job.lastError}`]),
        runs.length === 0 ? "No runs yet." : "Runs:",
        ...runs.slice(0, runsShown).map((r) =>
          `- ${Job.formatInZone(r.dueAt, job.timezone)} ${r.status}, ${r.attempt + 1} attempt(s)` +
          (r.lateMs >= 1000 ? `, ${Math.round(r.lateMs / 1000)} s late` : "") +
          (r.error === null ? "" : `: ${r.error}`)
        )
      ].join("\n")
    ),
    Effect.catchTag("JobNotFound", () => Effect.succeed(notFound(id)))
  )

/** The reply to `/tasks ARGS` for the owner's tasks. */
export const tasksReply = (tasks: Tasks, ownerId: string, args: string): Effect.Effect<string> => {
  const words = args.split(/\s+/).filter((w) => w.length > 0)
  if (words.length > 2) return Effect.succeed(usage)
  const [verb, id] = words
  if (verb === undefined) return listing(tasks, ownerId)
  if (id === undefined) return Effect.succeed(verbUsage)
  switch (verb.toLowerCase()) {
    case "cancel":
      return cancelling(tasks, ownerId, id)
    case "show":
      return showing(tasks, ownerId, id)
    default:
      return Effect.succeed(verbUsage)
  }
}
