/**
 * The `scheduled_jobs` and `job_runs` tables. Every query that a person can trigger is scoped to
 * an owner; only the firing path (which holds a job id from the durable mailbox) reads by id alone.
 */
import type { Statement } from "@effect/sql"
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Either, ParseResult, Schema } from "effect"
import { ChannelName } from "../domain/Conversation.ts"
import { CountRow, SqlBool, SqlInt } from "../storage/Columns.ts"
import { Job, JobStatus, type Recurrence, RecurrenceKind, RunStatus, StrategyName } from "./Job.ts"

const Millis = SqlInt
const NullableMillis = Schema.NullOr(SqlInt)

/** A `scheduled_jobs` row as the driver returns it. */
const JobRow = Schema.Struct({
  id: Schema.String,
  owner_id: Schema.String,
  channel: ChannelName,
  chat_id: Schema.String,
  thread_id: Schema.NullOr(SqlInt),
  user_id: Schema.NullOr(Schema.String),
  strategy: StrategyName,
  payload: Schema.String,
  recurrence: RecurrenceKind,
  interval_seconds: Schema.NullOr(SqlInt),
  cron: Schema.NullOr(Schema.String),
  timezone: Schema.String,
  run_at: Millis,
  next_run_at: NullableMillis,
  end_at: NullableMillis,
  notify: SqlBool,
  status: JobStatus,
  attempts: SqlInt,
  runs: SqlInt,
  last_run_at: NullableMillis,
  last_error: Schema.NullOr(Schema.String),
  created_at: Millis,
  updated_at: Millis
})

/** A job from its row and back: the one mapping between the two, used to read and to insert. */
export const JobFromRow = Schema.transformOrFail(JobRow, Job, {
  strict: true,
  decode: (row, _, ast) => {
    const recurrence: Either.Either<Recurrence, ParseResult.ParseIssue> = row.recurrence === "none"
      ? ParseResult.succeed({ kind: "none" } as const)
      : row.recurrence === "interval"
      ? row.interval_seconds === null
        ? ParseResult.fail(new ParseResult.Type(ast, row, "an interval job without interval_seconds"))
        : ParseResult.succeed({ kind: "interval", seconds: row.interval_seconds } as const)
      : row.cron === null
      ? ParseResult.fail(new ParseResult.Type(ast, row, "a cron job without cron"))
      : ParseResult.succeed({ kind: "cron", expression: row.cron } as const)
    return ParseResult.map(recurrence, (recurrence) => ({
      id: row.id,
      ownerId: row.owner_id,
      conversation: {
        channel: row.channel,
        chatId: row.chat_id,
        ...(row.thread_id === null ? {} : { threadId: row.thread_id })
      },
      userId: row.user_id,
      strategy: row.strategy,
      payload: row.payload,
      recurrence,
      timezone: row.timezone,
      runAt: row.run_at,
      nextRunAt: row.next_run_at,
      endAt: row.end_at,
      notify: row.notify,
      status: row.status,
      attempts: row.attempts,
      runs: row.runs,
      lastRunAt: row.last_run_at,
      lastError: row.last_error,
      createdAt: row.created_at,
      updatedAt: row.updated_at
    }))
  },
  encode: (job) =>
    ParseResult.succeed({
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
      notify: job.notify,
      status: job.status,
      attempts: job.attempts,
      runs: job.runs,
      last_run_at: job.lastRunAt,
      last_error: job.lastError,
      created_at: job.createdAt,
      updated_at: job.updatedAt
    })
})

export { RunStatus } from "./Job.ts"

/** A `job_runs` row, renamed to camelCase. */
export const JobRun = Schema.Struct({
  jobId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("job_id")),
  dueAt: Schema.propertySignature(Millis).pipe(Schema.fromKey("due_at")),
  attempt: SqlInt,
  status: RunStatus,
  lateMs: Schema.propertySignature(SqlInt).pipe(Schema.fromKey("late_ms")),
  startedAt: Schema.propertySignature(Millis).pipe(Schema.fromKey("started_at")),
  finishedAt: Schema.propertySignature(NullableMillis).pipe(Schema.fromKey("finished_at")),
  result: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  notified: SqlBool
})
export type JobRun = typeof JobRun.Type

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

    const insert = SqlSchema.void({
      Request: JobFromRow,
      execute: (row) => sql`INSERT INTO scheduled_jobs ${sql.insert(row)}`
    })

    /** Any owner's job: for the firing path only. */
    const byId = SqlSchema.findOne({
      Request: Schema.String,
      Result: JobFromRow,
      execute: (id) => sql`SELECT * FROM scheduled_jobs WHERE id = ${id}`
    })

    const findOwned = SqlSchema.findOne({
      Request: Schema.Struct({ ownerId: Schema.String, id: Schema.String }),
      Result: JobFromRow,
      execute: ({ id, ownerId }) => sql`SELECT * FROM scheduled_jobs WHERE id = ${id} AND owner_id = ${ownerId}`
    })
    const owned = (ownerId: string, id: string) => findOwned({ ownerId, id })

    /** Runs a query on `scheduled_jobs` and decodes its rows. */
    const jobs = (statement: Statement.Statement<unknown>) =>
      Effect.flatMap(statement, Schema.decodeUnknown(Schema.Array(JobFromRow)))
    /** The `n` of a `SELECT COUNT(*) AS n`. */
    const count = (statement: Statement.Statement<unknown>) =>
      Effect.flatMap(statement, ([row]) => Schema.decodeUnknown(CountRow)(row)).pipe(Effect.map((row) => row.n))

    const list = (ownerId: string, query: ListQuery) => listAny(query, ownerId)

    /** Every owner's jobs, or one owner's: for the operator (`minibot jobs list`). */
    const listAny = (query: ListQuery, ownerId?: string) =>
      Effect.gen(function*() {
        const conditions: Array<Statement.Fragment> = ownerId === undefined ? [] : [sql`owner_id = ${ownerId}`]
        if (query.activeOnly) conditions.push(sql`status IN ('pending', 'running', 'paused')`)
        if (query.strategies !== undefined && query.strategies.length > 0) {
          conditions.push(sql.in("strategy", query.strategies))
        }
        if (query.statuses !== undefined && query.statuses.length > 0) conditions.push(sql.in("status", query.statuses))
        if (query.createdFrom !== undefined) conditions.push(sql`created_at >= ${query.createdFrom}`)
        if (query.createdTo !== undefined) conditions.push(sql`created_at < ${query.createdTo}`)
        const where = sql.and(conditions)
        const total = yield* count(sql`SELECT COUNT(*) AS n FROM scheduled_jobs WHERE ${where}`)
        const page = yield* jobs(sql`
          SELECT * FROM scheduled_jobs WHERE ${where}
          ORDER BY created_at DESC, id LIMIT ${query.limit} OFFSET ${query.offset}
        `)
        return { total, jobs: page }
      })

    /** Marks an active job cancelled; false when it was not active (or not the owner's). */
    const cancel = (ownerId: string, id: string, now: number) =>
      sql`
        UPDATE scheduled_jobs SET status = 'cancelled', next_run_at = NULL, updated_at = ${now}
        WHERE id = ${id} AND owner_id = ${ownerId} AND status IN ('pending', 'running', 'paused')
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Marks any owner's active job cancelled (the operator's `minibot jobs cancel`); false when it was not active. */
    const cancelAny = (id: string, now: number) =>
      sql<{ id: string }>`
        UPDATE scheduled_jobs SET status = 'cancelled', next_run_at = NULL, updated_at = ${now}
        WHERE id = ${id} AND status IN ('pending', 'running', 'paused')
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Active jobs a person created on a channel (to stop them when the person loses access). */
    const activeWithCreator = (channel: ChannelName) =>
      jobs(sql`
        SELECT * FROM scheduled_jobs
        WHERE channel = ${channel} AND user_id IS NOT NULL AND status IN ('pending', 'running', 'paused')
        ORDER BY id
      `)

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
      sql`
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

    const findRun = SqlSchema.findOne({
      Request: Schema.Struct({ jobId: Schema.String, dueAt: Schema.Number }),
      Result: JobRun,
      execute: ({ dueAt, jobId }) => sql`SELECT * FROM job_runs WHERE job_id = ${jobId} AND due_at = ${dueAt}`
    })
    const run = (jobId: string, dueAt: number) => findRun({ jobId, dueAt })

    const insertRun = SqlSchema.void({
      Request: JobRun,
      execute: (row) => sql`INSERT INTO job_runs ${sql.insert(row)}`
    })

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
    const findRuns = SqlSchema.findAll({
      Request: Schema.Struct({ ownerId: Schema.String, jobId: Schema.String, limit: Schema.Number }),
      Result: JobRun,
      execute: ({ jobId, limit, ownerId }) =>
        sql`
          SELECT r.* FROM job_runs r JOIN scheduled_jobs j ON j.id = r.job_id
          WHERE r.job_id = ${jobId} AND j.owner_id = ${ownerId}
          ORDER BY r.due_at DESC LIMIT ${limit}
        `
    })
    const runs = (ownerId: string, jobId: string, limit: number) => findRuns({ ownerId, jobId, limit })

    /** Pauses a pending job (its firing in the mailbox then finds it paused); false when it was not pending. */
    const pause = (id: string, now: number) =>
      sql`
        UPDATE scheduled_jobs SET status = 'paused', next_run_at = NULL, updated_at = ${now}
        WHERE id = ${id} AND status = 'pending'
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Resumes a paused job at `next` (completed when it has no due time left); false when it was not paused. */
    const resume = (id: string, next: number | null, now: number) =>
      sql`
        UPDATE scheduled_jobs SET status = ${next === null ? "completed" : "pending"}, next_run_at = ${next},
          updated_at = ${now}
        WHERE id = ${id} AND status = 'paused'
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Makes a failed job due again at `next`; false when it is not failed. */
    const reopen = (id: string, next: number, now: number) =>
      sql`
        UPDATE scheduled_jobs SET status = 'pending', next_run_at = ${next}, attempts = 0, updated_at = ${now}
        WHERE id = ${id} AND status = 'failed'
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Replaces a pending or paused job's payload and timing; false when it is no longer either. */
    const amend = (job: Job, now: number) =>
      sql`
        UPDATE scheduled_jobs SET ${
        sql.update({
          payload: job.payload,
          recurrence: job.recurrence.kind,
          interval_seconds: job.recurrence.kind === "interval" ? job.recurrence.seconds : null,
          cron: job.recurrence.kind === "cron" ? job.recurrence.expression : null,
          timezone: job.timezone,
          run_at: job.runAt,
          next_run_at: job.nextRunAt,
          end_at: job.endAt,
          notify: job.notify ? 1 : 0,
          updated_at: now
        })
      }
        WHERE id = ${job.id} AND status IN ('pending', 'paused')
        RETURNING id
      `.pipe(Effect.map((rows) => rows.length > 0))

    /** Any owner's job's runs, newest first (the operator's view). */
    const findRunsAny = SqlSchema.findAll({
      Request: Schema.Struct({ jobId: Schema.String, limit: Schema.Number, offset: Schema.Number }),
      Result: JobRun,
      execute: ({ jobId, limit, offset }) =>
        sql`SELECT * FROM job_runs WHERE job_id = ${jobId} ORDER BY due_at DESC LIMIT ${limit} OFFSET ${offset}`
    })
    const runsAny = (jobId: string, limit: number, offset: number) => findRunsAny({ jobId, limit, offset })

    /** Pending jobs (for re-posting their firing after a crash between the commit and the post). */
    const pending = (afterId: string, limit: number) =>
      jobs(sql`
        SELECT * FROM scheduled_jobs WHERE status = 'pending' AND next_run_at IS NOT NULL AND id > ${afterId}
        ORDER BY id LIMIT ${limit}
      `)

    /** The earliest due time after `after` among pending jobs (precise wake-ups). */
    const nextDue = SqlSchema.single({
      Request: Schema.Number,
      Result: Schema.Struct({ t: Schema.NullOr(SqlInt) }),
      execute: (after) =>
        sql`SELECT MIN(next_run_at) AS t FROM scheduled_jobs WHERE status = 'pending' AND next_run_at > ${after}`
    })

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
      runsAny,
      pause,
      resume,
      amend,
      reopen,
      pending,
      nextDue: (after: number) => Effect.map(nextDue(after), (row) => row.t),
      transaction
    } as const
  })
}) {}
