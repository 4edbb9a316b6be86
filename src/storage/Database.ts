/**
 * The one SqlClient of the process, migrated on start: by default a SQLite file under
 * `[runtime] data_dir`, guarded by the data-dir lock, closed (WAL checkpointed) when the scope
 * ends; with `[storage] backend = "postgres"` a Postgres pool that several processes may share
 * (the cluster's shard locks keep them from running the same conversation twice, so no lock).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Cause, Data, Effect, Layer, Option, type Redacted } from "effect"
import * as path from "node:path"
import {
  ClusterSettings,
  type MinibotConfig,
  runnerAddressOf,
  RuntimeSettings,
  StorageSettings
} from "../config/Config.ts"
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

/**
 * Several runners started at once on a new Postgres database would create the same tables at the
 * same moment (Postgres fails one `CREATE TABLE IF NOT EXISTS` of two racing ones). Start-up steps
 * that create tables (the migrations, the cluster's own tables) run under this session lock, one
 * runner after the other; on SQLite the data-dir lock already keeps a second process out.
 */
const startupLockKey = 0x6d696e69 // "mini"

/** Runs `effect` while holding the database's start-up lock (Postgres; as is elsewhere). */
export const duringStartup = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () =>
        Effect.scoped(Effect.gen(function*() {
          const conn = yield* Effect.orDie(sql.reserve)
          yield* Effect.orDie(conn.executeRaw(`SELECT pg_advisory_lock(${startupLockKey})`, []))
          return yield* effect.pipe(
            Effect.ensuring(Effect.ignore(conn.executeRaw(`SELECT pg_advisory_unlock(${startupLockKey})`, [])))
          )
        })),
      orElse: () => effect
    }))

/** `layer`, built while holding the start-up lock (see `duringStartup`). */
export const builtDuringStartup = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.scopedContext(
    Effect.flatMap(Effect.scope, (scope) => duringStartup(Layer.buildWithScope(layer, scope)))
  )

/**
 * The Postgres `application_name` of a runner's connections: `minibot status` tells which runner
 * holds which shard lock by it (`pg_locks` joined with `pg_stat_activity`).
 */
export const runnerApplicationName = (address: string) => `${runnerApplicationPrefix}${address}`
export const runnerApplicationPrefix = "minibot runner "

/** Postgres at a URL, migrated (the same migrations, with dialect variants where the SQL differs). */
export const postgresAt = (url: Redacted.Redacted<string>, applicationName = "minibot") =>
  // The Postgres driver is loaded only when it is used: a SQLite daemon starts without it.
  Layer.unwrapEffect(
    Effect.promise(() => import("@effect/sql-pg")).pipe(Effect.map(({ PgClient, PgMigrator }) =>
      builtDuringStartup(PgMigrator.layer({ loader: Migrator.fromRecord(migrations) })).pipe(
        Layer.provideMerge(PgClient.layer({ url, applicationName })),
        Layer.provide(NodeContext.layer),
        Layer.tapError((e) => Effect.logError("database failed to open", (e as { cause?: unknown }).cause ?? e))
      )
    ))
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
      const { host, port } = runnerAddressOf(yield* ClusterSettings)
      return postgresAt(storage.postgres_url, runnerApplicationName(`${host}:${port}`)) as Opened
    }
    const { data_dir } = yield* RuntimeSettings
    yield* DataDirLock.acquire(data_dir)
    yield* DataDirLock.privateFile(data_dir, databaseFile(data_dir))
    return sqliteAt(databaseFile(data_dir)) as Opened
  })
)

/** `SELECT 1`, for readiness. */
export const ping = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Effect.asVoid)
