/**
 * Moving a SQLite deployment elsewhere: `minibot backup` (a consistent snapshot while the daemon
 * runs) and `minibot migrate-storage --to postgres` (every durable table copied into Postgres).
 *
 * The snapshot is `VACUUM INTO` on a connection of its own: it reads inside one transaction, so it
 * sees one committed state (WAL lets the daemon keep writing meanwhile).
 *
 * The copy holds the data-dir lock (no daemon may write the file meanwhile), runs the migrations
 * on both sides first, and inserts rows in primary-key order, in batches of one transaction each,
 * with `ON CONFLICT DO NOTHING`: run it again after an interruption and it copies what is missing,
 * never a row twice.
 */
import { Reactivity } from "@effect/experimental"
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Data, Effect, Layer, type Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Database from "./Database.ts"
import * as DataDirLock from "./DataDirLock.ts"

export class StorageCopyError extends Data.TaggedError("StorageCopyError")<{ readonly message: string }> {}

/**
 * The tables that hold what people and the operator would miss: history and the turn ledger,
 * notes, jobs and their runs (tasks are jobs), pairing, time zones, the Telegram offset (and the
 * updates already answered outside the mailboxes). In this order, each with its primary key.
 * Left out: the actors' mailboxes (the cluster's own tables; pending jobs are posted again at
 * start), the webhook outbox and album parts (short-lived).
 */
export const copiedTables: ReadonlyArray<{ readonly table: string; readonly key: ReadonlyArray<string> }> = [
  { table: "turns", key: ["conversation_key", "message_id"] },
  { table: "history", key: ["id"] },
  { table: "notes", key: ["id"] },
  { table: "scheduled_jobs", key: ["id"] },
  { table: "job_runs", key: ["job_id", "due_at"] },
  { table: "telegram_state", key: ["bot_id"] },
  { table: "telegram_handled_updates", key: ["bot_id", "update_id"] },
  { table: "telegram_refusals", key: ["chat_id"] },
  { table: "telegram_pairing_codes", key: ["code"] },
  // Paused by the operator: still paused after the move.
  { table: "channel_pauses", key: ["channel"] },
  { table: "telegram_paired_users", key: ["user_id"] },
  { table: "user_timezones", key: ["owner_id"] }
]

/** Tables whose `id` is a Postgres sequence: moved past the copied ids so new rows do not collide. */
const serialTables = ["history", "notes"]

const batchSize = 500

export interface TableCopy {
  readonly table: string
  readonly read: number
  readonly inserted: number
}

const openSqlite = (file: string) =>
  SqliteClient.make({ filename: file }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.catchAllDefect((e) =>
      Effect.fail(new StorageCopyError({ message: `cannot open ${file}: ${e instanceof Error ? e.message : e}` }))
    )
  )

const sqlFailure = (what: string) => (e: unknown) =>
  new StorageCopyError({
    message: `${what}: ${String((e as { cause?: { message?: unknown } }).cause?.message ?? (e as Error).message ?? e)}`
  })

/** Copies every table of `copiedTables` that exists in the SQLite file, reporting each. */
const copyTables = (source: SqlClient.SqlClient, target: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const copies: Array<TableCopy> = []
    for (const { key, table } of copiedTables) {
      const columns = (yield* source<{ name: string }>`SELECT name FROM pragma_table_info(${table})`).map((c) => c.name)
      if (columns.length === 0) continue
      const order = source.literal(key.join(", "))
      let read = 0
      let inserted = 0
      for (;;) {
        const rows = yield* source<Record<string, unknown>>`
          SELECT ${source.literal(columns.join(", "))} FROM ${source(table)} ORDER BY ${order}
          LIMIT ${batchSize} OFFSET ${read}`
        if (rows.length === 0) break
        const added = yield* target<{ one: number }>`
          INSERT INTO ${target(table)} ${target.insert(rows)} ON CONFLICT DO NOTHING RETURNING 1 AS one`.pipe(
          target.withTransaction
        )
        read += rows.length
        inserted += added.length
      }
      if (serialTables.includes(table)) {
        yield* target`SELECT setval(pg_get_serial_sequence(${table}, 'id'), GREATEST((SELECT MAX(id) FROM ${
          target(table)
        }), 1))`
      }
      copies.push({ table, read, inserted })
    }
    return copies
  }).pipe(Effect.mapError(sqlFailure("copying to Postgres failed")))

/**
 * `minibot migrate-storage --to postgres`: holds the data-dir lock (refused while a daemon runs),
 * migrates Postgres, then copies. Returns what each table gave.
 */
export const migrateToPostgres = Effect.fn("StorageCopy.migrateToPostgres")(
  function*(dataDir: string, url: Redacted.Redacted<string>) {
    const file = Database.databaseFile(dataDir)
    if (!fs.existsSync(file)) {
      return yield* new StorageCopyError({ message: `there is no database at ${file} (runtime.data_dir) to copy` })
    }
    yield* DataDirLock.acquire(dataDir)
    // Migrated first, as the daemon would at start: a file of an older version is copied as the
    // current version reads it.
    const source = Context.get(yield* Layer.build(Database.sqliteAt(file)), SqlClient.SqlClient)
    return yield* Effect.flatMap(SqlClient.SqlClient, (target) => copyTables(source, target)).pipe(
      Effect.provide(
        Database.postgresAt(url).pipe(Layer.mapError(sqlFailure("cannot open or migrate the Postgres database")))
      )
    )
  },
  Effect.scoped
)

/** Where `minibot backup` writes without `--out`: `data_dir/backups/minibot-<UTC time>.db`. */
export const defaultBackupPath = (dataDir: string, now: Date) =>
  path.join(dataDir, "backups", `minibot-${now.toISOString().replace(/[:.]/g, "-")}.db`)

/**
 * A consistent copy of the SQLite database at `out` (mode 0600), taken beside a running daemon.
 * Written under a temporary name and renamed, so `out` is never a partial file.
 */
export const backup = Effect.fn("StorageCopy.backup")(
  function*(dataDir: string, out: string) {
    const file = Database.databaseFile(dataDir)
    if (!fs.existsSync(file)) {
      return yield* new StorageCopyError({ message: `there is no database at ${file} (runtime.data_dir) to back up` })
    }
    if (fs.existsSync(out)) {
      return yield* new StorageCopyError({ message: `${out} already exists; give --out a new file name` })
    }
    const partial = `${out}.partial`
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o700 })
        fs.rmSync(partial, { force: true })
        // VACUUM INTO accepts an empty file: created here, so it is private from its first byte.
        fs.closeSync(fs.openSync(partial, "wx", 0o600))
      },
      catch: (e) => new StorageCopyError({ message: `cannot write ${out}: ${(e as Error).message}` })
    })
    const source = yield* openSqlite(file)
    yield* source`PRAGMA busy_timeout = 10000`.pipe(
      Effect.zipRight(source`VACUUM INTO ${partial}`),
      Effect.mapError(sqlFailure(`backing up ${file} failed`)),
      Effect.tapError(() => Effect.sync(() => fs.rmSync(partial, { force: true })))
    )
    yield* Effect.try({
      try: () => fs.renameSync(partial, out),
      catch: (e) => new StorageCopyError({ message: `cannot write ${out}: ${(e as Error).message}` })
    })
    return { file: out, bytes: fs.statSync(out).size }
  },
  Effect.scoped
)
