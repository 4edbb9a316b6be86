/**
 * Scheduled jobs and their runs (also the tasks' audit trail). Portable SQL (SQLite and Postgres):
 * times are epoch milliseconds in BIGINT, booleans are 0/1 integers.
 * - `scheduled_jobs`: the source of truth that users list and cancel; `next_run_at` is the due
 *   time of the one firing in flight (the durable mailbox holds a message for exactly that time).
 * - `job_runs`: one row per firing (job, due time): the claim that makes a firing run once, and
 *   its history (attempts, lateness, result or error).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE scheduled_jobs (
      id TEXT PRIMARY KEY,
      owner_id TEXT NOT NULL,
      channel TEXT NOT NULL,
      chat_id TEXT NOT NULL,
      thread_id BIGINT,
      user_id TEXT,
      strategy TEXT NOT NULL,
      payload TEXT NOT NULL,
      recurrence TEXT NOT NULL,
      interval_seconds BIGINT,
      cron TEXT,
      timezone TEXT NOT NULL,
      run_at BIGINT NOT NULL,
      next_run_at BIGINT,
      end_at BIGINT,
      notify INTEGER NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      runs INTEGER NOT NULL DEFAULT 0,
      last_run_at BIGINT,
      last_error TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )
  `
  yield* sql`CREATE INDEX scheduled_jobs_owner_idx ON scheduled_jobs (owner_id, created_at)`
  yield* sql`CREATE INDEX scheduled_jobs_due_idx ON scheduled_jobs (status, next_run_at)`
  yield* sql`
    CREATE TABLE job_runs (
      job_id TEXT NOT NULL,
      due_at BIGINT NOT NULL,
      attempt INTEGER NOT NULL,
      status TEXT NOT NULL,
      late_ms BIGINT NOT NULL,
      started_at BIGINT NOT NULL,
      finished_at BIGINT,
      result TEXT,
      error TEXT,
      notified INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (job_id, due_at)
    )
  `
})
