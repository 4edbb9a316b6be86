/**
 * The one SqlClient of the process, migrated on start: by default a SQLite file under
 * `[runtime] data_dir`, guarded by the data-dir lock, closed (WAL checkpointed) when the scope
 * ends; with `[storage] backend = "postgres"` a Postgres pool that several processes may share
 * (the cluster's shard locks keep them from running the same conversation twice, so no lock).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Migrator, SqlClient } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Cause, Data, Effect, Layer, Option, type Redacted } from "effect"
import * as path from "node:path"
import { type MinibotConfig, RuntimeSettings, StorageSettings } from "../config/Config.ts"
import * as DataDirLock from "./DataDirLock.ts"
import { migrations } from "./migrations/index.ts"

export const databaseFile = (dataDir: string) => path.join(dataDir, "minibot.db")

/** The database file is damaged or is not a SQLite database. */
export class DatabaseCorrupt
  extends Data.TaggedError("DatabaseCorrupt")<{ readonly file: string; readonly reason: string }>
{
  override get message() {
    return `the database ${this.file} is damaged or not a SQLite database (${this.reason}); restore it from a backup, or move it away to start with an empty one (runtime.data_dir)`
  }
}

/** Another program (not minibot: that is the data-dir lock) holds a lock on the database file. */
export class DatabaseLocked extends Data.TaggedError("DatabaseLocked")<{ readonly file: string }> {
  override get message() {
    return `the database ${this.file} is locked by another program; close it (a sqlite3 shell, a backup tool) and start again`
  }
}

/** The database file cannot be opened for writing. */
export class DatabaseUnwritable extends Data.TaggedError("DatabaseUnwritable")<{
  readonly file: string
  readonly reason: string
}> {
  override get message() {
    return `the database ${this.file} cannot be opened for writing (${this.reason}); fix its owner and permissions, or set runtime.data_dir to a directory this user can write`
  }
}

const sqliteCode = <E>(cause: Cause.Cause<E>) =>
  Option.firstSomeOf([...Cause.failures(cause), ...Cause.defects(cause)].map((e) => {
    const inner = (e as { cause?: unknown }).cause ?? e
    const code = (inner as { code?: unknown }).code
    return typeof code === "string" && code.startsWith("SQLITE_")
      ? Option.some({ code, reason: inner instanceof Error ? inner.message : code })
      : Option.none()
  }))

/**
 * What a failure to open or migrate SQLite means for the operator. better-sqlite3 throws from the
 * client's constructor (a defect, not a failure), so the whole cause is read.
 */
const explainSqlite = (file: string) =>
<E>(
  cause: Cause.Cause<E>
): Effect.Effect<never, E | DatabaseCorrupt | DatabaseLocked | DatabaseUnwritable> =>
  Option.match(sqliteCode(cause), {
    onNone: () => Effect.failCause(cause),
    onSome: ({ code, reason }) =>
      code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")
        ? Effect.fail(new DatabaseCorrupt({ file, reason }))
        : code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")
        ? Effect.fail(new DatabaseLocked({ file }))
        : code.startsWith("SQLITE_CANTOPEN") || code.startsWith("SQLITE_READONLY") ||
            code.startsWith("SQLITE_PERM") || code.startsWith("SQLITE_IOERR")
        ? Effect.fail(new DatabaseUnwritable({ file, reason }))
        : Effect.failCause(cause)
  })

/** SQLite at a given file, migrated. */
export const sqliteAt = (filename: string) =>
  SqliteMigrator.layer({ loader: Migrator.fromRecord(migrations) }).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename })),
    Layer.provide(NodeContext.layer),
    Layer.catchAllCause((cause) => Layer.effectContext(explainSqlite(filename)(cause)))
  )

/** A constant shared by every runner: the advisory lock under which one of them migrates. */
const migrationLock = 7_346_301

/**
 * Runners starting at once on a fresh database race on the migrator's own `CREATE TABLE IF NOT
 * EXISTS` (Postgres fails all but one with a duplicate key in pg_type). A session advisory lock,
 * held on one reserved connection while the migrator runs, makes them take turns: the first
 * migrates, the others wait and find nothing left to do.
 */
const migratePostgres = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const connection = yield* sql.reserve
  yield* Effect.acquireRelease(
    connection.execute("SELECT pg_advisory_lock($1)", [migrationLock], undefined),
    () => connection.execute("SELECT pg_advisory_unlock($1)", [migrationLock], undefined).pipe(Effect.ignore)
  )
  yield* PgMigrator.run({ loader: Migrator.fromRecord(migrations) })
}).pipe(Effect.scoped)

/** Postgres at a URL, migrated (the same migrations, with dialect variants where the SQL differs). */
export const postgresAt = (url: Redacted.Redacted<string>) =>
  Layer.effectDiscard(migratePostgres).pipe(
    Layer.provideMerge(PgClient.layer({ url, applicationName: "minibot" })),
    Layer.provide(NodeContext.layer),
    Layer.tapError((e) => Effect.logError("database failed to open", (e as { cause?: unknown }).cause ?? e))
  )

type Opened = Layer.Layer<
  SqlClient.SqlClient,
  Layer.Layer.Error<ReturnType<typeof sqliteAt>> | Layer.Layer.Error<ReturnType<typeof postgresAt>>
>

/**
 * The configured database without the data-dir lock, for commands that work beside a running
 * daemon (`minibot pairing ...`): SQLite under `data_dir`, or Postgres.
 */
export const unlocked = (config: MinibotConfig): Opened =>
  config.storage.backend === "postgres" && config.storage.postgres_url !== undefined
    ? postgresAt(config.storage.postgres_url)
    : sqliteAt(databaseFile(config.runtime.data_dir))

/** The daemon's database from config: SQLite (lock the data dir, then open and migrate) or Postgres. */
export const layer = Layer.unwrapScoped(
  Effect.gen(function*() {
    const storage = yield* StorageSettings
    if (storage.backend === "postgres" && storage.postgres_url !== undefined) {
      return postgresAt(storage.postgres_url) as Opened
    }
    const { data_dir } = yield* RuntimeSettings
    yield* DataDirLock.acquire(data_dir)
    yield* DataDirLock.privateFile(data_dir, databaseFile(data_dir))
    return sqliteAt(databaseFile(data_dir)) as Opened
  })
)

/** `SELECT 1`, for readiness. */
export const ping = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Effect.asVoid)
