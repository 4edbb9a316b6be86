import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Job } from "../../src/scheduler/Job.ts"
import { JobStore } from "../../src/scheduler/JobStore.ts"
import * as Database from "../../src/storage/Database.ts"
import { freshDatabase } from "../support/Postgres.ts"

const dueAt = Date.parse("2026-11-25T09:00:00Z")

const job: Job = {
  id: "jtest00001",
  ownerId: "console:alice",
  conversation: { channel: "telegram", chatId: "-1001", threadId: 7 },
  userId: "42",
  strategy: "llm_prompt",
  payload: "water the plants",
  recurrence: { kind: "interval", seconds: 3600 },
  timezone: "Europe/Madrid",
  runAt: dueAt,
  nextRunAt: dueAt,
  endAt: null,
  notify: false,
  status: "pending",
  attempts: 0,
  runs: 0,
  lastRunAt: null,
  lastError: null,
  createdAt: dueAt - 1000,
  updatedAt: dueAt - 1000
}

const onSqlite = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minibot-jobstore-"))
  return JobStore.Default.pipe(Layer.provideMerge(Database.sqliteAt(Database.databaseFile(dir))))
}

describe("JobStore rows", () => {
  it.effect("a job and a run read back as written", () =>
    Effect.gen(function*() {
      const store = yield* JobStore
      yield* store.insert(job)
      expect(yield* store.byId(job.id)).toEqual(Option.some(job))
      const run = {
        jobId: job.id,
        dueAt,
        attempt: 0,
        status: "running",
        lateMs: 12,
        startedAt: dueAt + 12,
        finishedAt: null,
        result: null,
        error: null,
        notified: false
      } as const
      yield* store.insertRun(run)
      expect(yield* store.run(job.id, dueAt)).toEqual(Option.some(run))
      expect(yield* store.list(job.ownerId, { activeOnly: true, limit: 10, offset: 0 })).toEqual({
        total: 1,
        jobs: [job]
      })
      expect(yield* store.nextDue(dueAt - 1)).toBe(dueAt)
    }).pipe(Effect.provide(onSqlite())))

  it.effect("a row with an unknown status is a ParseError naming the column, not a job", () =>
    Effect.gen(function*() {
      const store = yield* JobStore
      const sql = yield* SqlClient.SqlClient
      yield* store.insert(job)
      yield* sql`UPDATE scheduled_jobs SET status = 'sleeping' WHERE id = ${job.id}`
      const error = yield* Effect.flip(store.byId(job.id))
      expect(error._tag).toBe("ParseError")
      expect(error.message).toContain("status")
      expect(error.message).toContain("sleeping")
      const listed = yield* Effect.flip(store.list(job.ownerId, { activeOnly: false, limit: 10, offset: 0 }))
      expect(listed._tag).toBe("ParseError")
    }).pipe(Effect.provide(onSqlite())))

  it.effect("an interval job without its interval is a ParseError", () =>
    Effect.gen(function*() {
      const store = yield* JobStore
      const sql = yield* SqlClient.SqlClient
      yield* store.insert(job)
      yield* sql`UPDATE scheduled_jobs SET interval_seconds = NULL WHERE id = ${job.id}`
      const error = yield* Effect.flip(store.byId(job.id))
      expect(error.message).toContain("an interval job without interval_seconds")
    }).pipe(Effect.provide(onSqlite())))

  it.scopedLive("on Postgres, BIGINT columns (returned as text) decode to numbers", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      yield* Effect.gen(function*() {
        const store = yield* JobStore
        const sql = yield* SqlClient.SqlClient
        // The driver really does hand BIGINT over as text: without decoding, these would be strings.
        const [raw] = yield* sql<{ run_at: unknown }>`SELECT ${dueAt}::bigint AS run_at`
        expect(raw!.run_at).toBe(String(dueAt))
        yield* store.insert(job)
        const read = yield* store.byId(job.id)
        expect(read).toEqual(Option.some(job))
        expect(typeof Option.getOrThrow(read).runAt).toBe("number")
        expect(yield* store.nextDue(dueAt - 1)).toBe(dueAt)
        expect((yield* store.list(job.ownerId, { activeOnly: true, limit: 10, offset: 0 })).total).toBe(1)
        yield* sql`UPDATE scheduled_jobs SET status = 'sleeping' WHERE id = ${job.id}`
        expect((yield* Effect.flip(store.byId(job.id)))._tag).toBe("ParseError")
      }).pipe(Effect.provide(JobStore.Default.pipe(Layer.provideMerge(Database.postgresAt(Redacted.make(db.url))))))
    }))
})
