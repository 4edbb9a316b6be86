/**
 * The one SqlClient of the process: a SQLite file under `[runtime] data_dir`, migrated on start,
 * guarded by the data-dir lock, closed (WAL checkpointed) when the scope ends.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import * as path from "node:path"
import { AppConfig } from "../config/Config.ts"
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

/** The daemon's database from config: lock the data dir, then open and migrate. */
export const layer = Layer.unwrapScoped(
  Effect.gen(function*() {
    const { config } = yield* AppConfig
    yield* DataDirLock.acquire(config.runtime.data_dir)
    return sqliteAt(databaseFile(config.runtime.data_dir))
  })
)

/** `SELECT 1`, for readiness. */
export const ping = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Effect.asVoid)
