/**
 * `/api/schedules`: every owner's scheduled jobs. The operator creates one in a conversation (the
 * same request and validation as the `schedule_prompt` tool, owned as if the chat's person had
 * asked), changes its prompt or timing, runs it now, pauses and resumes it, cancels it, and reads
 * its run history with the turns whose replies reached the chat.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Option } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { keyOf } from "../../domain/Conversation.ts"
import { ownerIdOf } from "../../runtime/ConversationTurn.ts"
import type { Job } from "../../scheduler/Job.ts"
import { type JobRun, JobStore } from "../../scheduler/JobStore.ts"
import { type JobNotFound, type JobRefused, type ScheduleError, Scheduler } from "../../scheduler/Scheduler.ts"
import { timingOf } from "../../scheduler/SchedulerTools.ts"
import { Api, Conflict, InvalidRequest, NotFound } from "./Api.ts"
import { conversationOf, userOf } from "./ConversationsHandlers.ts"
import { pageOf, pageResult } from "./Paging.ts"
import { runView } from "./RunView.ts"

const notFound = (e: JobNotFound) => new NotFound({ message: e.message })
const refused = (e: JobRefused) => new Conflict({ message: e.message })
const invalid = (e: ScheduleError) => new InvalidRequest({ field: e.field ?? "body", message: e.message })

/** The turn message ids of a run: its first attempt and each retry. */
const messageIdsOf = (run: JobRun) =>
  Array.from(
    { length: run.attempt + 1 },
    (_, attempt) => `job:${run.jobId}:${run.dueAt}${attempt === 0 ? "" : `:${attempt}`}`
  )

export const SchedulesHandlers = HttpApiBuilder.group(Api, "schedules", (handlers) =>
  Effect.gen(function*() {
    const jobs = yield* JobStore
    const scheduler = yield* Scheduler
    const sql = yield* SqlClient.SqlClient
    const { config } = yield* AppConfig

    const byId = (id: string) =>
      jobs.byId(id).pipe(
        Effect.orDie,
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new NotFound({ message: `no schedule ${JSON.stringify(id)}` })),
          onSome: Effect.succeed
        }))
      )

    /** The messages of these turns whose reply reached the chat. */
    const delivered = (job: Job, ids: ReadonlyArray<string>) =>
      ids.length === 0 ? Effect.succeed(new Set<string>()) : sql<{ message_id: string }>`
          SELECT message_id FROM turns
          WHERE conversation_key = ${keyOf(job.conversation)} AND status = 'delivered' AND ${sql.in("message_id", ids)}
        `.pipe(Effect.map((rows) => new Set(rows.map((r) => r.message_id))), Effect.orDie)

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
      .handle("create", ({ payload }) =>
        Effect.gen(function*() {
          const conversation = yield* conversationOf(payload.conversation_id).pipe(
            Effect.mapError((e) => new InvalidRequest({ field: "conversation_id", message: e.message }))
          )
          const user = userOf(conversation)
          const ownerId = ownerIdOf(config.tools.kv_memory.default_owner_id, {
            conversation,
            userId: user.userId,
            isGroup: user.isGroup
          })
          const { conversation_id: _, prompt, ...timing } = payload
          const job = yield* scheduler.schedule(
            { ownerId, conversation, userId: user.userId ?? null },
            { strategy: "llm_prompt", payload: prompt, ...timingOf(timing) }
          ).pipe(Effect.mapError(invalid))
          yield* Effect.logInfo("schedule created by the operator").pipe(Effect.annotateLogs("job_id", job.id))
          return job
        }))
      .handle("update", ({ path, payload }) => {
        const { prompt, ...timing } = payload
        const changes = timingOf(timing)
        const { notify, ...schedule } = changes
        return scheduler.amend(path.id, {
          ...(prompt === undefined ? {} : { payload: prompt }),
          // Timing fields replace the whole timing; `notify` alone keeps it.
          ...(Object.keys(schedule).length > 0 ? { timing: changes } : {}),
          ...(Object.keys(schedule).length === 0 && notify !== undefined ? { notify } : {})
        }).pipe(
          Effect.catchTags({
            JobNotFound: (e) => Effect.fail(notFound(e)),
            JobRefused: (e) => Effect.fail(refused(e)),
            ScheduleError: (e) => Effect.fail(invalid(e))
          })
        )
      })
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
      .handle("run", ({ path }) =>
        scheduler.runNow(path.id).pipe(
          Effect.map((dueAt) => ({ jobId: path.id, dueAt })),
          Effect.catchTags({
            JobNotFound: (e) => Effect.fail(notFound(e)),
            JobRefused: (e) => Effect.fail(refused(e))
          })
        ))
      .handle("pause", ({ path }) =>
        scheduler.pause(path.id).pipe(
          Effect.catchTags({
            JobNotFound: (e) => Effect.fail(notFound(e)),
            JobRefused: (e) => Effect.fail(refused(e))
          })
        ))
      .handle("resume", ({ path }) =>
        scheduler.resume(path.id).pipe(
          Effect.catchTags({
            JobNotFound: (e) => Effect.fail(notFound(e)),
            JobRefused: (e) => Effect.fail(refused(e))
          })
        ))
      .handle("runs", ({ path, urlParams }) =>
        Effect.gen(function*() {
          const job = yield* byId(path.id)
          const page = yield* pageOf(urlParams)
          const runs = yield* jobs.runsAny(job.id, page.limit + 1, page.offset).pipe(Effect.orDie)
          const reached = yield* delivered(job, runs.flatMap(messageIdsOf))
          return pageResult(
            runs.map((run) => runView(run, messageIdsOf(run).filter((id) => reached.has(id)))),
            page
          )
        }))
  }))
