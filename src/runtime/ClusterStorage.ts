/**
 * Every statement on @effect/cluster's own tables, in one place. Those tables are the library's
 * private storage, so what is read here is pinned to the version whose schema it was written
 * against (`clusterVersion`); test/runtime/ClusterStorage.test.ts fails when the columns change.
 */
import { ShardingConfig, Snowflake, SqlMessageStorage } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"

export const clusterVersion = "0.60.2"

/** The columns the statements below use, by table. */
export const columnsUsed = {
  cluster_messages: [
    "id",
    "message_id",
    "entity_type",
    "entity_id",
    "tag",
    "payload",
    "processed",
    "sampled",
    "last_read",
    "deliver_at"
  ],
  cluster_replies: ["id", "request_id", "acked"]
} as const

/** Used on Postgres only: on SQLite one process is the only runner, and the runner table is not kept. */
export const postgresColumnsUsed = {
  cluster_runners: ["address", "last_heartbeat"]
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
 * Makes unprocessed messages read more than `ms` ago readable again (Postgres). The cluster skips
 * a message read in the last ten minutes, as one being worked on. A runner taking over a shard
 * clears those marks, but a runner stopping (or losing the shard) can still read one of its
 * messages just after that, and the message would then wait ten minutes. Read again, a message
 * still being worked on is not run twice: its runner refuses a second delivery of a request it
 * holds (AlreadyProcessingMessage), and the turn ledger ignores a message already answered.
 */
export const releaseStaleReads = (ms: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      UPDATE cluster_messages SET last_read = NULL
      WHERE processed = FALSE AND last_read < NOW() - ${ms} * INTERVAL '1 millisecond'
    `).pipe(Effect.asVoid)

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
  const tables = sql.onDialectOrElse({
    pg: () => ({ ...columnsUsed, ...postgresColumnsUsed }),
    orElse: () => columnsUsed
  })
  for (const [table, columns] of Object.entries(tables)) {
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

/** A runner as `cluster_runners` records it (Postgres): its address and how old its heartbeat is. */
export interface RunnerRow {
  readonly address: string
  readonly heartbeatAgeMs: number
}

/** Every runner recorded, with the age of its last heartbeat (by the database's clock). */
export const runners = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ address: string; age_ms: number | string }>`
    SELECT address, EXTRACT(EPOCH FROM (NOW() - last_heartbeat)) * 1000 AS age_ms
    FROM cluster_runners ORDER BY address
  `).pipe(
    Effect.map((rows): Array<RunnerRow> =>
      rows.map((r) => ({ address: r.address, heartbeatAgeMs: Math.max(0, Math.round(Number(r.age_ms))) }))
    )
  )

/**
 * On Postgres a shard lock is the session advisory lock 1000000 + n for shard n of the group
 * "default" (the first of `availableShardGroups`; shards 1 to `shardsPerGroup`).
 */
const shardLockBase = 1_000_000
const shardsPerGroup = 300

/** The shard a lock key stands for, if it is a shard lock. */
export const shardOfLock = (key: number): number | undefined =>
  key > shardLockBase && key <= shardLockBase + shardsPerGroup ? key - shardLockBase : undefined

/** Advisory locks granted in this database, with the `application_name` of the connection holding each. */
export const advisoryLocks = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ holder: string; objid: number | string }>`
    SELECT a.application_name AS holder, l.objid AS objid
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  `
).pipe(Effect.map((rows) => rows.map((r) => ({ holder: r.holder, key: Number(r.objid) }))))

/**
 * The mailboxes as `minibot migrate-storage` copies them, replies first so that a copied message
 * never lacks its reply. Ids are snowflakes (64-bit: read as bigints) and stay as they are, and so
 * do shard ids: both sides use the cluster's default shard groups and count, so a conversation's
 * new messages land in the shard of its copied ones. SQLite's 0/1 flags become booleans, and
 * `last_read` (the old runner's claim on a message it was running) is cleared: no runner holds
 * it now, so the new one takes it at once.
 */
export const mailboxTables: ReadonlyArray<{
  readonly table: string
  readonly key: ReadonlyArray<string>
  readonly booleans: ReadonlyArray<string>
  readonly cleared: ReadonlyArray<string>
}> = [
  { table: "cluster_replies", key: ["id"], booleans: ["acked"], cleared: [] },
  { table: "cluster_messages", key: ["id"], booleans: ["processed", "sampled"], cleared: ["last_read"] }
]

/** Creates the cluster's message tables (its own migrations), as a runner does at start. */
export const createMessageTables = Layer.build(
  SqlMessageStorage.layer.pipe(Layer.provide(ShardingConfig.layerDefaults))
).pipe(Effect.asVoid, Effect.scoped)

/** The newest stored message id (a snowflake), or null when the mailboxes are empty. */
export const newestMessageId = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ id: bigint | string | number | null }>`SELECT MAX(id) AS id FROM cluster_messages`.pipe(
      Effect.map(([row]) => (row?.id === null || row?.id === undefined ? null : BigInt(row.id))),
      Effect.provideService(SqlClient.SafeIntegers, true)
    )
)

/** Whether a message was stored after `id` (or any at all when `id` is null). */
export const storedAfter = (id: bigint | null) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ one: number }>`
      SELECT 1 AS one FROM cluster_messages ${id === null ? sql.literal("") : sql`WHERE id > ${id.toString()}`} LIMIT 1
    `).pipe(Effect.map((rows) => rows.length > 0))
