/**
 * `/api/tasks`: every owner's tasks (the scheduler's jobs seen through their lifecycle), one task
 * with its audit trail (each run: due time, lateness, attempts, outcome), cancelling, and running
 * a failed one again.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Clock, Effect, Option } from "effect"
import type * as Job from "../../scheduler/Job.ts"
import { JobStore } from "../../scheduler/JobStore.ts"
import { Scheduler } from "../../scheduler/Scheduler.ts"
import { statusOf } from "../../tasks/Tasks.ts"
import { Api, Conflict, NotFound } from "./Api.ts"
import { pageOf, pageResult } from "./Paging.ts"
import { runView } from "./RunView.ts"

/** Runs shown with a task. */
const auditRuns = 50

const taskOf = (job: Job.Job) => ({ ...job, taskStatus: statusOf(job) })

export const TasksHandlers = HttpApiBuilder.group(Api, "tasks", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* JobStore
    const scheduler = yield* Scheduler

    const byId = (id: string) =>
      jobs.byId(id).pipe(
        Effect.orDie,
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new NotFound({ message: `no task ${JSON.stringify(id)}` })),
          onSome: Effect.succeed
        }))
      )

    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function*() {
          const page = yield* pageOf(urlParams)
          const status = urlParams.status === "queued" ? "pending" : urlParams.status
          const { jobs: found } = yield* jobs.listAny({
            activeOnly: false,
            limit: page.limit + 1,
            offset: page.offset,
            ...(status === undefined ? {} : { statuses: [status] }),
            ...(urlParams.kind === undefined ? {} : { strategies: [urlParams.kind] })
          }, urlParams.owner).pipe(Effect.orDie)
          return pageResult(found.map(taskOf), page)
        }))
      .handle("get", ({ path }) =>
        Effect.gen(function*() {
          const job = yield* byId(path.id)
          const runs = yield* jobs.runsAny(job.id, auditRuns, 0).pipe(Effect.orDie)
          return {
            task: taskOf(job),
            runs: runs.map((run) => runView(run, []))
          }
        }))
      .handle("cancel", ({ path }) =>
        Effect.gen(function*() {
          const job = yield* byId(path.id)
          const now = yield* Clock.currentTimeMillis
          if (!(yield* jobs.cancelAny(job.id, now).pipe(Effect.orDie))) {
            return yield* new Conflict({ message: `task ${job.id} is already ${statusOf(job)}` })
          }
          yield* Effect.logInfo("task cancelled by the operator").pipe(Effect.annotateLogs("job_id", job.id))
          return taskOf(yield* byId(job.id))
        }))
      .handle("retry", ({ path }) =>
        scheduler.retry(path.id).pipe(
          Effect.map(taskOf),
          Effect.catchTags({
            JobNotFound: (e) => Effect.fail(new NotFound({ message: e.message })),
            JobRefused: (e) => Effect.fail(new Conflict({ message: e.message }))
          })
        ))
  }))
