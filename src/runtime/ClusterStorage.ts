/**
 * Every statement on @effect/cluster's own tables, in one place. Those tables are the library's
 * private storage, so what is read here is pinned to the version whose schema it was written
 * against (`clusterVersion`); test/runtime/ClusterStorage.test.ts fails when the columns change.
 */
import { Snowflake } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export const clusterVersion = "0.60.2"

/** The columns the statements below use, by table. */
export const columnsUsed = {
  cluster_messages: ["id", "message_id", "entity_type", "entity_id", "tag", "payload", "processed", "deliver_at"],
  cluster_replies: ["request_id"]
} as const

/** Cluster's id of a persisted message that has a primary key. */
export const messageId = (entityType: string, entityId: string, tag: string, primaryKey: string) =>
  `${entityType}/${entityId}/${tag}/${primaryKey}`

/** Stored messages of one entity and tag not yet processed (the running one included). */
export const countUnprocessed = (entityType: string, entityId: string, tag: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ n: number | string }>`
      SELECT COUNT(*) AS n FROM cluster_messages
      WHERE entity_type = ${entityType} AND entity_id = ${entityId} AND tag = ${tag} AND processed = FALSE
    `).pipe(Effect.map(([row]) => Number(row?.n ?? 0)))

/** The payloads (JSON) of an entity's unprocessed messages of a tag stored after message `after`, oldest first. */
export const unprocessedPayloadsAfter = (entityType: string, entityId: string, tag: string, after: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ payload: string | null }>`
      SELECT payload FROM cluster_messages
      WHERE entity_type = ${entityType} AND entity_id = ${entityId} AND tag = ${tag} AND processed = FALSE
      AND id > (SELECT id FROM cluster_messages WHERE message_id = ${after})
      ORDER BY id
    `).pipe(Effect.map((rows) => rows.flatMap((r) => r.payload === null ? [] : [r.payload])))

/** Which of these message ids are stored and not yet processed. */
export const unprocessedAmong = (ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    if (ids.length === 0) return new Set<string>()
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ message_id: string }>`
      SELECT message_id FROM cluster_messages WHERE processed = FALSE AND ${sql.in("message_id", ids)}
    `
    return new Set(rows.map((r) => r.message_id))
  })

// Message ids are snowflakes: the time they were stored, shifted left by 22 bits, then machine and sequence.
const timestampShift = 22n
const snowflakeAt = (epochMs: number) => Snowflake.make({ timestamp: epochMs, machineId: 0 as never, sequence: 0 })

/** Deletes processed messages stored before `epochMs`, and their replies. */
export const pruneProcessed = (epochMs: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const oldest = snowflakeAt(epochMs)
    yield* sql`DELETE FROM cluster_messages WHERE processed = TRUE AND id < ${oldest}`
    yield* sql`
      DELETE FROM cluster_replies WHERE request_id < ${oldest}
      AND request_id NOT IN (SELECT request_id FROM cluster_messages)
    `
  })

/**
 * Moves every stored message `ms` into the past (stored earlier, due earlier), as if the process
 * had been stopped that long. For tests of downtime.
 */
export const shiftIntoPast = (ms: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`UPDATE cluster_messages SET id = id - ${BigInt(ms) << timestampShift}`,
      sql`UPDATE cluster_messages SET deliver_at = deliver_at - ${ms} WHERE deliver_at IS NOT NULL`
    ])).pipe(Effect.asVoid)

/** Columns of `columnsUsed` that the database does not have (empty when the schema is as expected). */
export const missingColumns = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const missing: Array<string> = []
  for (const [table, columns] of Object.entries(columnsUsed)) {
    const rows = yield* sql.onDialectOrElse({
      sqlite: () => sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})`,
      orElse: () =>
        sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns WHERE table_name = ${table}`
    })
    const present = new Set(rows.map((r) => r.name))
    for (const column of columns) if (!present.has(column)) missing.push(`${table}.${column}`)
  }
  return missing
})
