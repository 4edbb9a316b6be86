/**
 * Scaling out from SQLite: `minibot migrate-storage --to postgres` copies what a person would miss
 * (history, notes, jobs and runs, pairing, time zones, the Telegram offset, the turn ledger), is
 * refused while the daemon runs, copies nothing twice when run again, fills in what an
 * interrupted run left out, and a daemon on Postgres then carries on the same conversation.
 * What was waiting when the SQLite daemon died comes along too: a message not yet answered is
 * answered once, a reminder due later fires once on time, an undelivered webhook event arrives
 * once, and what was answered before is not answered again.
 */
import { Reactivity } from "@effect/experimental"
import type { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Scope } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { freePort, processScope, telegramDaemonConfig, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { startFakeTelegram } from "../support/FakeTelegram.ts"
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
/** Rows of a query on the SQLite file, read beside a running daemon (WAL). */
const sqliteRows = (file: string, statement: string) =>
  SqliteClient.make({ filename: file, readonly: true }).pipe(
    Effect.flatMap((sql) => sql.unsafe<Record<string, unknown>>(statement)),
    Effect.scoped,
    Effect.provide(Reactivity.layer),
    Effect.runPromise
  )

const until = async (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** A webhook receiver on a fixed port that records each request's event id and answers 200. */
const receiverOn = (port: number) =>
  new Promise<{ readonly ids: Array<string>; readonly close: () => Promise<void> }>((resolve) => {
    const ids: Array<string> = []
    const server = http.createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        ids.push(String(req.headers["x-minibot-event-id"]))
        res.writeHead(200).end()
      })
    })
    server.listen(port, "127.0.0.1", () =>
      resolve({
        ids,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
      }))
  })

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

  // Stopped as the runbook says (SIGTERM: the turn in flight is interrupted), or crashed (kill -9).
  it.each(["SIGTERM", "SIGKILL"] as const)(
    "what was waiting on SQLite happens once on Postgres: a pending message, a later reminder, a webhook (%s)",
    async (signal) => {
      const dir = tempDir()
      const telegram = adopt(await startFakeTelegram())
      const llm = adopt(await startFakeLlm())
      const url = await database()
      const receiverPort = await freePort()
      let onSqlite = true
      const reminderDelaySeconds = 45
      llm.script((request) => {
        const last = lastUserContent(request)
        if (last.startsWith("Scheduled instruction")) return { content: "time to stretch" }
        if (request.messages.at(-1)?.role === "tool") return { content: "reminder set" }
        if (last === "remind me") {
          return {
            toolCalls: [{
              name: "schedule_prompt",
              arguments: { prompt: "stretch", delay_seconds: reminderDelaySeconds }
            }]
          }
        }
        // The model never answers on SQLite: the daemon dies with this turn in flight.
        if (last === "pending question" && onSqlite) return { hang: true }
        return { content: `echo: ${last}` }
      })
      const extra = (storage: string) =>
        `allowed_user_ids = [42]
merge_window_ms = 0
${storage}
[[webhooks]]
url = "http://127.0.0.1:${receiverPort}/hook"
events = ["reply.sent"]
secret = "webhook-secret-of-the-migration-test"
allow_private_networks = true
`
      const sqliteConfig = telegramDaemonConfig(dir, telegram, llm, extra(""))
      const file = path.join(dir, "data", "minibot.db")
      const sentText = (text: string) => telegram.sent.filter((m) => m.visibleText === text)
      const asked = (text: string) => llm.completions().filter((r) => lastUserContent(r.body) === text)

      const first = launch(["run", "--config", sqliteConfig], { cwd: dir })
      telegram.pushText({ chatId: 42, userId: 42, text: "first question" })
      await until(() => sentText("echo: first question").length === 1, "the first answer")
      telegram.pushText({ chatId: 42, userId: 42, text: "remind me" })
      await until(() => sentText("reminder set").length === 1, "the reminder's confirmation")
      telegram.pushText({ chatId: 42, userId: 42, text: "pending question" })
      await llm.waitFor(() => asked("pending question").length === 1, 15_000)
      // The receiver is down: both replies' events wait in the outbox, each tried once.
      const undelivered = async () =>
        (await sqliteRows(file, "SELECT event_id FROM webhook_deliveries WHERE status = 'pending' AND attempts > 0"))
          .map((r) => String(r.event_id))
      await until(async () => (await undelivered()).length === 2, "two undelivered webhook events")
      first.child.kill(signal)
      expect(await first.exited).toEqual(signal === "SIGTERM" ? { code: 0, signal: null } : { code: null, signal })
      const waiting = await undelivered()
      const [job] = await sqliteRows(file, "SELECT next_run_at FROM scheduled_jobs WHERE status = 'pending'")
      const reminderDueAt = Number(job!.next_run_at)
      expect(sentText("time to stretch")).toHaveLength(0)

      const copied = await migrate(dir, sqliteConfig, url)
      expect(copied).toMatchObject({ code: 0, stderr: "" })
      expect(copied.stdout).toMatch(/webhook_deliveries: 2 copied/)
      expect(copied.stdout).toMatch(/cluster_messages: [1-9]\d* copied/)
      const again = await migrate(dir, sqliteConfig, url)
      expect(again.stdout).toMatch(/cluster_messages: 0 copied, [1-9]\d* already there/)

      const receiver = await receiverOn(receiverPort)
      onCleanup(receiver.close)
      onSqlite = false
      const pgConfig = telegramDaemonConfig(
        dir,
        telegram,
        llm,
        extra(`[storage]\nbackend = "postgres"\npostgres_url = "${url}"`)
      )
      const second = launch(["run", "--config", pgConfig], { cwd: dir })
      await second.waitForStderr(/minibot started/, 30_000)
      // The reminder is still ahead when Postgres takes over, so "on time" means something.
      expect(Date.now()).toBeLessThan(reminderDueAt)

      await until(() => sentText("echo: pending question").length === 1, "the pending message's answer")
      await until(() => waiting.every((id) => receiver.ids.includes(id)), "the undelivered webhook events")
      await until(() => sentText("time to stretch").length === 1, "the reminder", 90_000)
      // Whatever would come twice comes before the reply to a message sent after all of it.
      telegram.pushText({ chatId: 42, userId: 42, text: "and now" })
      await until(() => sentText("echo: and now").length === 1, "the answer after everything")
      await until(() => receiver.ids.length === waiting.length + 3, "the events of the replies on Postgres")
      second.child.kill("SIGTERM")
      expect((await second.exited).code).toBe(0)

      expect(sentText("echo: pending question")).toHaveLength(1)
      expect(sentText("echo: first question")).toHaveLength(1)
      expect(asked("first question")).toHaveLength(1)
      expect(sentText("reminder set")).toHaveLength(1)
      expect(sentText("time to stretch")).toHaveLength(1)
      const firings = llm.completions().filter((r) => lastUserContent(r.body).startsWith("Scheduled instruction"))
      expect(firings).toHaveLength(1)
      expect(lastUserContent(firings[0]!.body)).not.toMatch(/late\)/)
      // Each event once: the two from SQLite, then the pending answer's, the reminder's and the last one's.
      expect(new Set(receiver.ids).size).toBe(receiver.ids.length)
      expect(receiver.ids).toEqual(expect.arrayContaining(waiting))

      // The chat's messages written on Postgres went to the shard of its copied ones.
      const shards = await pgRun(
        url,
        "SELECT entity_id, COUNT(DISTINCT shard_id) AS shards, COUNT(*) AS n FROM cluster_messages GROUP BY entity_id"
      ) as unknown as Array<{ shards: string; n: string }>
      expect(shards).toHaveLength(1)
      expect(Number(shards[0]!.shards)).toBe(1)
      expect(Number(shards[0]!.n)).toBeGreaterThanOrEqual(5)

      // Run again once runners worked on Postgres: what SQLite still holds as waiting stays out.
      const late = await migrate(dir, sqliteConfig, url)
      expect(late.code).toBe(0)
      expect(late.stdout).toMatch(/cluster_messages: not copied/)
      expect(late.stdout).toMatch(/webhook_deliveries: not copied/)
    },
    180_000
  )
})
