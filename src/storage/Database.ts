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
import { Effect, Layer, type Redacted } from "effect"
import * as path from "node:path"
import { AppConfig, type MinibotConfig } from "../config/Config.ts"
import * as DataDirLock from "./DataDirLock.ts"
import { migrations } from "./migrations/index.ts"

export const databaseFile = (dataDir: string) => path.join(dataDir, "minibot.db")

/** SQLite at a given file, migrated. */
export const sqliteAt = (filename: string) =>
  SqliteMigrator.layer({ loader: Migrator.fromRecord(migrations) }).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename })),
    Layer.provide(NodeContext.layer),
    Layer.tapError((e) => Effect.logError("database failed to open", (e as { cause?: unknown }).cause ?? e))
  )

/** Postgres at a URL, migrated (the same migrations, with dialect variants where the SQL differs). */
export const postgresAt = (url: Redacted.Redacted<string>) =>
  PgMigrator.layer({ loader: Migrator.fromRecord(migrations) }).pipe(
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
    const { config } = yield* AppConfig
    if (config.storage.backend === "postgres" && config.storage.postgres_url !== undefined) {
      return postgresAt(config.storage.postgres_url) as Opened
    }
    yield* DataDirLock.acquire(config.runtime.data_dir)
    return sqliteAt(databaseFile(config.runtime.data_dir)) as Opened
  })
)

/** `SELECT 1`, for readiness. */
export const ping = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Effect.asVoid)
