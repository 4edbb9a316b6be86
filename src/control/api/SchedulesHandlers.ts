/** `/api/schedules`: every owner's scheduled jobs, one job, and cancelling one. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Clock, Effect, Option } from "effect"
import { JobStore } from "../../scheduler/JobStore.ts"
import { Api, NotFound } from "./Api.ts"
import { pageOf, pageResult } from "./Paging.ts"

export const SchedulesHandlers = HttpApiBuilder.group(Api, "schedules", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* JobStore

    const byId = (id: string) =>
      jobs.byId(id).pipe(
        Effect.orDie,
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new NotFound({ message: `no schedule ${JSON.stringify(id)}` })),
          onSome: Effect.succeed
        }))
      )

    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function*() {
          const page = yield* pageOf(urlParams)
          const { jobs: found } = yield* jobs.listAny({
            activeOnly: false,
            limit: page.limit + 1,
            offset: page.offset,
            ...(urlParams.status === undefined ? {} : { statuses: [urlParams.status] })
          }).pipe(Effect.orDie)
          return pageResult(found, page)
        }))
      .handle("get", ({ path }) => byId(path.id))
      .handle("cancel", ({ path }) =>
        Effect.gen(function*() {
          yield* byId(path.id)
          const now = yield* Clock.currentTimeMillis
          const cancelled = yield* jobs.cancelAny(path.id, now).pipe(Effect.orDie)
          if (cancelled) {
            yield* Effect.logInfo("schedule cancelled by the operator").pipe(Effect.annotateLogs("job_id", path.id))
          }
          return yield* byId(path.id)
        }))
  }))
