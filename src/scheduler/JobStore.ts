/**
 * The `scheduled_jobs` and `job_runs` tables. Every query that a person can trigger is scoped to
 * an owner; only the firing path (which holds a job id from the durable mailbox) reads by id alone.
 */
import { SqlClient, type Statement } from "@effect/sql"
import { Effect, Option } from "effect"
import type { ChannelName } from "../domain/Conversation.ts"
import type { Job, JobStatus, Recurrence, StrategyName } from "./Job.ts"

interface JobRow {
  readonly id: string
  readonly owner_id: string
  readonly channel: string
  readonly chat_id: string
  readonly thread_id: number | string | null
  readonly user_id: string | null
  readonly strategy: string
  readonly payload: string
  readonly recurrence: string
  readonly interval_seconds: number | string | null
  readonly cron: string | null
  readonly timezone: string
  readonly run_at: number | string
  readonly next_run_at: number | string | null
  readonly end_at: number | string | null
  readonly notify: number | string | boolean
  readonly status: string
  readonly attempts: number | string
  readonly runs: number | string
  readonly last_run_at: number | string | null
  readonly last_error: string | null
  readonly created_at: number | string
  readonly updated_at: number | string
}

export type RunStatus = "running" | "completed" | "failed" | "skipped" | "cancelled"

export interface JobRun {
  readonly jobId: string
  readonly dueAt: number
  readonly attempt: number
  readonly status: RunStatus
  readonly lateMs: number
  readonly startedAt: number
  readonly finishedAt: number | null
  readonly result: string | null
  readonly error: string | null
  readonly notified: boolean
}

interface RunRow {
  readonly job_id: string
  readonly due_at: number | string
  readonly attempt: number | string
  readonly status: string
  readonly late_ms: number | string
  readonly started_at: number | string
  readonly finished_at: number | string | null
  readonly result: string | null
  readonly error: string | null
  readonly notified: number | string | boolean
}

// Postgres returns BIGINT as text.
const num = (v: number | string) => Number(v)
const numOrNull = (v: number | string | null) => (v === null ? null : Number(v))
const bool = (v: number | string | boolean) => v === true || Number(v) === 1

const recurrenceOf = (row: JobRow): Recurrence =>
  row.recurrence === "interval"
    ? { kind: "interval", seconds: num(row.interval_seconds ?? 0) }
    : row.recurrence === "cron"
    ? { kind: "cron", expression: row.cron ?? "" }
    : { kind: "none" }

const toJob = (row: JobRow): Job => ({
  id: row.id,
  ownerId: row.owner_id,
  conversation: {
    channel: row.channel as ChannelName,
    chatId: row.chat_id,
    ...(row.thread_id === null ? {} : { threadId: num(row.thread_id) })
  },
  userId: row.user_id,
  strategy: row.strategy as StrategyName,
  payload: row.payload,
  recurrence: recurrenceOf(row),
  timezone: row.timezone,
  runAt: num(row.run_at),
  nextRunAt: numOrNull(row.next_run_at),
  endAt: numOrNull(row.end_at),
  notify: bool(row.notify),
  status: row.status as JobStatus,
  attempts: num(row.attempts),
  runs: num(row.runs),
  lastRunAt: numOrNull(row.last_run_at),
  lastError: row.last_error,
  createdAt: num(row.created_at),
  updatedAt: num(row.updated_at)
})

const toRun = (row: RunRow): JobRun => ({
  jobId: row.job_id,
  dueAt: num(row.due_at),
  attempt: num(row.attempt),
  status: row.status as RunStatus,
  lateMs: num(row.late_ms),
  startedAt: num(row.started_at),
  finishedAt: numOrNull(row.finished_at),
  result: row.result,
  error: row.error,
  notified: bool(row.notified)
})

export interface ListQuery {
  readonly activeOnly: boolean
  readonly limit: number
  readonly offset: number
  readonly strategies?: ReadonlyArray<StrategyName>
  readonly statuses?: ReadonlyArray<JobStatus>
  /** Only jobs created in [from, to) (epoch ms). */
  readonly createdFrom?: number
  readonly createdTo?: number
}

export class JobStore extends Effect.Service<JobStore>()("minibot/JobStore", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const insert = (job: Job) =>
      sql`INSERT INTO scheduled_jobs ${
        sql.insert({
          id: job.id,
          owner_id: job.ownerId,
          channel: job.conversation.channel,
          chat_id: job.conversation.chatId,
          thread_id: job.conversation.threadId ?? null,
          user_id: job.userId,
          strategy: job.strategy,
          payload: job.payload,
          recurrence: job.recurrence.kind,
          interval_seconds: job.recurrence.kind === "interval" ? job.recurrence.seconds : null,
          cron: job.recurrence.kind === "cron" ? job.recurrence.expression : null,
          timezone: job.timezone,
          run_at: job.runAt,
          next_run_at: job.nextRunAt,
          end_at: job.endAt,
          notify: job.notify ? 1 : 0,
          status: job.status,
          attempts: job.attempts,
          runs: job.runs,
          last_run_at: job.lastRunAt,
          last_error: job.lastError,
          created_at: job.createdAt,
          updated_at: job.updatedAt
        })
      }`.pipe(Effect.asVoid)

    /** Any owner's job: for the firing path only. */
    const byId = (id: string) =>
      sql<JobRow>`SELECT * FROM scheduled_jobs WHERE id = ${id}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toJob))
      )

    const owned = (ownerId: string, id: string) =>
      sql<JobRow>`SELECT * FROM scheduled_jobs WHERE id = ${id} AND owner_id = ${ownerId}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toJob))
      )

    const list = (ownerId: string, query: ListQuery) => listAny(query, ownerId)

    /** Every owner's jobs, or one owner's: for the operator (`minibot jobs list`). */
    const listAny = (query: ListQuery, ownerId?: string) =>
      Effect.gen(function*() {
        const conditions: Array<Statement.Fragment> = ownerId === undefined ? [] : [sql`owner_id = ${ownerId}`]
        if (query.activeOnly) conditions.push(sql`status IN ('pending', 'running')`)
        if (query.strategies !== undefined && query.strategies.length > 0) {
          conditions.push(sql.in("strategy", query.strategies))
        }
        if (query.statuses !== undefined && query.statuses.length > 0) conditions.push(sql.in("status", query.statuses))
        if (query.createdFrom !== undefined) conditions.push(sql`created_at >= ${query.createdFrom}`)
        if (query.createdTo !== undefined) conditions.push(sql`created_at < ${query.createdTo}`)
        const where = sql.and(conditions)
        const [count] = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM scheduled_jobs WHERE ${where}`
        const rows = yield* sql<JobRow>`
          SELECT * FROM scheduled_jobs WHERE ${where}
          ORDER BY created_at DESC, id LIMIT ${query.limit} OFFSET ${query.offset}
        `
        return { total: Number(count?.n ?? 0), jobs: rows.map(toJob) }
      })

    /** Marks an active job cancelled; false when it was not active (or not the owner's). */
    const cancel = (ownerId: string, id: string, now: number) =>
      sql<{ id: string }>`
        UPDATE scheduled_jobs SET status = 'cancelled', next_run_at = NULL, updated_at = ${now}
        WHERE id = ${id} AND owner_id = ${ownerId} AND status IN ('pending', 'running')
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Marks any owner's active job cancelled (the operator's `minibot jobs cancel`); false when it was not active. */
    const cancelAny = (id: string, now: number) =>
      sql<{ id: string }>`
        UPDATE scheduled_jobs SET status = 'cancelled', next_run_at = NULL, updated_at = ${now}
        WHERE id = ${id} AND status IN ('pending', 'running')
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Active jobs a person created on a channel (to stop them when the person loses access). */
    const activeWithCreator = (channel: ChannelName) =>
      sql<JobRow>`
        SELECT * FROM scheduled_jobs
        WHERE channel = ${channel} AND user_id IS NOT NULL AND status IN ('pending', 'running')
        ORDER BY id
      `.pipe(Effect.map((rows) => rows.map(toJob)))

    const update = (
      id: string,
      fields: Partial<{
        status: JobStatus
        next_run_at: number | null
        attempts: number
        runs: number
        last_run_at: number
        last_error: string | null
      }>,
      now: number
    ) =>
      sql`UPDATE scheduled_jobs SET ${sql.update({ ...fields, updated_at: now })} WHERE id = ${id}`.pipe(Effect.asVoid)

    /**
     * Moves a pending job past the due time `dueAt`, only if it is still pending at that due time
     * (not cancelled, not advanced by someone else meanwhile); false otherwise. On Postgres the
     * row stays locked until the transaction ends.
     */
    const advance = (
      id: string,
      dueAt: number,
      fields: Partial<{
        status: JobStatus
        next_run_at: number | null
        attempts: number
        runs: number
        last_run_at: number
      }>,
      now: number
    ) =>
      sql<{ id: string }>`
        UPDATE scheduled_jobs SET ${sql.update({ ...fields, updated_at: now })}
        WHERE id = ${id} AND status = 'pending' AND next_run_at = ${dueAt}
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Records the end of a run: a one-shot still running becomes `status` (a cancelled one stays cancelled). */
    const finish = (id: string, status: "completed" | "failed", error: string | null, now: number) =>
      sql`
        UPDATE scheduled_jobs SET last_error = ${error}, updated_at = ${now},
          status = CASE WHEN status = 'running' THEN ${status} ELSE status END
        WHERE id = ${id}
      `.pipe(Effect.asVoid)

    const run = (jobId: string, dueAt: number) =>
      sql<RunRow>`SELECT * FROM job_runs WHERE job_id = ${jobId} AND due_at = ${dueAt}`.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRun))
      )

    const insertRun = (run: JobRun) =>
      sql`INSERT INTO job_runs ${
        sql.insert({
          job_id: run.jobId,
          due_at: run.dueAt,
          attempt: run.attempt,
          status: run.status,
          late_ms: run.lateMs,
          started_at: run.startedAt,
          finished_at: run.finishedAt,
          result: run.result,
          error: run.error,
          notified: run.notified ? 1 : 0
        })
      }`.pipe(Effect.asVoid)

    const updateRun = (
      jobId: string,
      dueAt: number,
      fields: Partial<{
        status: RunStatus
        attempt: number
        finished_at: number
        result: string | null
        error: string | null
        notified: number
      }>
    ) =>
      sql`UPDATE job_runs SET ${sql.update(fields)} WHERE job_id = ${jobId} AND due_at = ${dueAt}`.pipe(Effect.asVoid)

    /** Runs of an owner's job, newest first. */
    const runs = (ownerId: string, jobId: string, limit: number) =>
      sql<RunRow>`
        SELECT r.* FROM job_runs r JOIN scheduled_jobs j ON j.id = r.job_id
        WHERE r.job_id = ${jobId} AND j.owner_id = ${ownerId}
        ORDER BY r.due_at DESC LIMIT ${limit}
      `.pipe(Effect.map((rows) => rows.map(toRun)))

    /** Pending jobs (for re-posting their firing after a crash between the commit and the post). */
    const pending = (afterId: string, limit: number) =>
      sql<JobRow>`
        SELECT * FROM scheduled_jobs WHERE status = 'pending' AND next_run_at IS NOT NULL AND id > ${afterId}
        ORDER BY id LIMIT ${limit}
      `.pipe(Effect.map((rows) => rows.map(toJob)))

    /** The earliest due time after `after` among pending jobs (precise wake-ups). */
    const nextDue = (after: number) =>
      sql<{ t: number | string | null }>`
        SELECT MIN(next_run_at) AS t FROM scheduled_jobs WHERE status = 'pending' AND next_run_at > ${after}
      `.pipe(Effect.map(([row]) => (row?.t === null || row?.t === undefined ? null : Number(row.t))))

    const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>) => sql.withTransaction(effect)

    return {
      insert,
      byId,
      owned,
      list,
      listAny,
      cancel,
      cancelAny,
      activeWithCreator,
      update,
      advance,
      finish,
      run,
      insertRun,
      updateRun,
      runs,
      pending,
      nextDue,
      transaction
    } as const
  })
}) {}
