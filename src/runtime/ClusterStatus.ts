/**
 * The runners sharing a Postgres database as the database sees them, for `minibot status` (beside
 * running daemons) and `GET /api/status`: each runner's heartbeat, the shards it holds, and which
 * one polls Telegram. Read from the cluster's runner table and from `pg_locks` (shard locks and
 * the singletons' locks are advisory locks; a runner's connections carry its address in their
 * `application_name`), so it is the truth of the moment, a killed runner's locks already gone.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { runnerApplicationPrefix } from "../storage/Database.ts"
import { runnerExpirationMs } from "./ClusterActors.ts"
import * as ClusterStorage from "./ClusterStorage.ts"
import { singletonLocks } from "./Singletons.ts"

export interface RunnerStatus {
  readonly address: string
  /** Its heartbeat is recent: the other runners count it in. */
  readonly alive: boolean
  readonly heartbeatAgeMs: number
  /** The shards (1-300) whose lock it holds: their conversations run on it. */
  readonly shards: ReadonlyArray<number>
  readonly pollsTelegram: boolean
}

export interface ClusterView {
  readonly backend: "sqlite" | "postgres"
  /** Alive runners, then those gone within `goneShownFor`; empty on SQLite (one process). */
  readonly runners: ReadonlyArray<RunnerStatus>
  /** The runner polling Telegram now, if one does. */
  readonly telegramPoller: string | null
}

/** A runner that stopped is still listed this long (killed ones stay in the table). */
const goneShownForMs = 10 * 60_000

/** Postgres keeps the first 63 bytes of `application_name`: a long address is matched by its start. */
const maxApplicationName = 63
const holds = (address: string, holder: string) => {
  const name = `${runnerApplicationPrefix}${address}`
  return holder === name || (holder.length === maxApplicationName && name.startsWith(holder))
}

export const read: Effect.Effect<ClusterView, unknown, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.onDialectOrElse({
      pg: () =>
        Effect.gen(function*() {
          const rows = yield* ClusterStorage.runners
          const locks = yield* ClusterStorage.advisoryLocks
          const pollerLock = singletonLocks["telegram-poller"]
          const runners = rows
            .filter((r) => r.heartbeatAgeMs < goneShownForMs)
            .map((r): RunnerStatus => {
              const own = locks.filter((l) => holds(r.address, l.holder))
              return {
                address: r.address,
                alive: r.heartbeatAgeMs < runnerExpirationMs,
                heartbeatAgeMs: r.heartbeatAgeMs,
                shards: own.flatMap((l) => {
                  const shard = ClusterStorage.shardOfLock(l.key)
                  return shard === undefined ? [] : [shard]
                }).sort((a, b) => a - b),
                pollsTelegram: own.some((l) => l.key === pollerLock)
              }
            })
            .sort((a, b) => Number(b.alive) - Number(a.alive))
          return {
            backend: "postgres" as const,
            runners,
            telegramPoller: runners.find((r) => r.pollsTelegram)?.address ?? null
          }
        }),
      orElse: () => Effect.succeed<ClusterView>({ backend: "sqlite", runners: [], telegramPoller: null })
    })
)

/** Shard numbers as ranges: `1-40, 77, 90-112`. */
export const shardRanges = (shards: ReadonlyArray<number>): string => {
  const parts: Array<string> = []
  let start: number | undefined
  let prev: number | undefined
  for (const n of [...shards, Number.NaN]) {
    if (prev !== undefined && n === prev + 1) {
      prev = n
      continue
    }
    if (start !== undefined) parts.push(start === prev ? `${start}` : `${start}-${prev}`)
    start = n
    prev = n
  }
  return parts.join(", ")
}
