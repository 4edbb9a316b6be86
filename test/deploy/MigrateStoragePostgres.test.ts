/**
 * Scaling out from SQLite: `minibot migrate-storage --to postgres` copies what a person would miss
 * (history, notes, jobs and runs, pairing, time zones, the Telegram offset, the turn ledger), is
 * refused while the daemon runs, copies nothing twice when run again, fills in what an
 * interrupted run left out, and a daemon on Postgres then carries on the same conversation.
 */
import { Reactivity } from "@effect/experimental"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { processScope, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { tempDir } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"

const { adopt, launch, onCleanup } = processScope()

const tables = [
  "turns",
  "history",
  "notes",
  "scheduled_jobs",
  "job_runs",
  "telegram_state",
  "telegram_paired_users",
  "user_timezones"
] as const

const config = (dir: string, llm: FakeLlmServer, storage = "") =>
  writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${llm.url}"
api_key = "sk-test"
[channels.console]
enabled = true
${storage}
`
  )

/** Rows a person would miss that the console cannot create: written straight into the SQLite file. */
const seedSqlite = (file: string) =>
  Effect.gen(function*() {
    const sql = yield* SqliteClient.make({ filename: file })
    const now = Date.now()
    yield* sql`INSERT INTO notes (owner_id, title, title_key, data, created_at, updated_at)
      VALUES ('console:local', 'Wifi', 'wifi', 'the password is on the fridge', '2026-01-01T00:00:00.000Z',
              '2026-01-01T00:00:00.000Z')`
    yield* sql`INSERT INTO scheduled_jobs (id, owner_id, channel, chat_id, strategy, payload, recurrence, timezone,
      run_at, next_run_at, notify, status, runs, created_at, updated_at)
      VALUES ('job1', 'console:local', 'console', 'local', 'message', 'water the plants', 'once', 'UTC',
              ${now - 60_000}, NULL, 1, 'completed', 1, ${now - 120_000}, ${now - 60_000})`
    yield* sql`INSERT INTO job_runs (job_id, due_at, attempt, status, late_ms, started_at, finished_at, result)
      VALUES ('job1', ${now - 60_000}, 0, 'succeeded', 3, ${now - 60_000}, ${now - 59_000}, 'sent')`
    yield* sql`INSERT INTO telegram_state (bot_id, next_offset, updated_at) VALUES (42, 1001, ${now})`
    yield* sql`INSERT INTO telegram_paired_users (user_id, user_name, approved_at) VALUES (7, 'ada', ${now})`
    yield* sql`INSERT INTO user_timezones (owner_id, timezone, updated_at)
      VALUES ('console:local', 'Europe/Madrid', '2026-01-01T00:00:00.000Z')`
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.runPromise)

const countsIn = (
  open: Effect.Effect<SqlClient.SqlClient, unknown, Scope.Scope | Reactivity.Reactivity>
): Promise<Record<string, number>> =>
  open.pipe(
    Effect.flatMap((sql) =>
      Effect.forEach(tables, (table) =>
        sql.unsafe(`SELECT COUNT(*) AS n FROM ${table}`).pipe(
          Effect.map((rows) => [table, Number((rows[0] as { n: unknown }).n)] as const)
        ))
    ),
    Effect.map(Object.fromEntries),
    Effect.scoped,
    Effect.provide(Reactivity.layer),
    Effect.runPromise
  )

const sqliteCounts = (file: string) => countsIn(SqliteClient.make({ filename: file, readonly: true }))
const pgCounts = (url: string) => countsIn(PgClient.make({ url: Redacted.make(url), maxConnections: 1 }))
const pgRun = (url: string, statement: string) =>
  PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(
    Effect.flatMap((sql) => sql.unsafe(statement)),
    Effect.scoped,
    Effect.provide(Reactivity.layer),
    Effect.runPromise
  )

/** A fresh database, dropped after the test. */
const database = async () => {
  const scope = await Effect.runPromise(Scope.make())
  onCleanup(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return (await Effect.runPromise(Scope.extend(freshDatabase, scope))).url
}

const migrate = async (dir: string, cfg: string, url: string) => {
  const p = launch(["migrate-storage", "--config", cfg, "--to", "postgres", "--postgres-url", url], { cwd: dir })
  const { code } = await p.exited
  return { code, stdout: p.stdout, stderr: p.stderr }
}

describe("minibot migrate-storage (Postgres)", () => {
  it("copies every durable table once, resumes, and the conversation carries on from Postgres", async () => {
    const dir = tempDir()
    const llm = adopt(await startFakeLlm())
    const url = await database()
    const sqliteConfig = config(dir, llm)
    const said = launch(["console", "--config", sqliteConfig, "--once", "my name is Ada"], { cwd: dir })
    expect((await said.exited).code).toBe(0)
    const file = path.join(dir, "data", "minibot.db")
    await seedSqlite(file)
    const before = await sqliteCounts(file)
    expect(before).toMatchObject({ turns: 1, history: 2, notes: 1, scheduled_jobs: 1, job_runs: 1 })

    // Refused while a daemon holds the data directory: it could still be writing.
    const daemon = launch(["run", "--config", sqliteConfig], { cwd: dir })
    await daemon.waitForStderr(/minibot started/, 30_000)
    const refused = await migrate(dir, sqliteConfig, url)
    expect(refused.code).toBe(4)
    expect(refused.stderr).toMatch(/^minibot: another minibot process \(pid \d+\) is using data_dir/m)
    daemon.child.kill("SIGTERM")
    expect((await daemon.exited).code).toBe(0)

    const first = await migrate(dir, sqliteConfig, url)
    expect(first).toMatchObject({ code: 0, stderr: "" })
    expect(first.stdout).toContain("history: 2 copied")
    expect(await pgCounts(url)).toEqual(before)

    // Again: nothing copied twice.
    const second = await migrate(dir, sqliteConfig, url)
    expect(second.code).toBe(0)
    expect(second.stdout).toContain("history: 0 copied, 2 already there")
    expect(await pgCounts(url)).toEqual(before)

    // An interrupted copy (rows missing on Postgres) is completed by the next run.
    await pgRun(url, "DELETE FROM history WHERE role = 'assistant'")
    await pgRun(url, "DELETE FROM notes")
    const resumed = await migrate(dir, sqliteConfig, url)
    expect(resumed.stdout).toContain("history: 1 copied, 1 already there")
    expect(await pgCounts(url)).toEqual(before)

    // A daemon on Postgres answers the same conversation with its earlier history.
    fs.renameSync(path.join(dir, "data"), path.join(dir, "sqlite-data"))
    const pgConfig = config(dir, llm, `[storage]\nbackend = "postgres"\npostgres_url = "${url}"`)
    llm.reset()
    const asked = launch(["console", "--config", pgConfig, "--once", "what is my name?"], { cwd: dir })
    expect((await asked.exited).code).toBe(0)
    expect(asked.stdout).toContain("echo: what is my name?")
    const seen = llm.completions().at(-1)!.body.messages.map((m) => String(m.content))
    expect(seen).toEqual(expect.arrayContaining(["my name is Ada", "echo: my name is Ada", "what is my name?"]))
    expect(lastUserContent(llm.completions().at(-1)!.body)).toBe("what is my name?")
    const after = await pgCounts(url)
    expect(after.history).toBe(before.history + 2)
  }, 120_000)
})
