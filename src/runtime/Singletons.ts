/**
 * Work that must run on exactly one process of the cluster (the Telegram poller): with several
 * runners on Postgres, the runner that owns the singleton's shard runs it, and another takes it
 * over when that runner dies. The only door to cluster's `Singleton` outside the actors.
 *
 * On Postgres the runner that runs a singleton also holds a session advisory lock of its own
 * (`singletonLocks`) for as long as it runs: `minibot status` reads in `pg_locks` which runner
 * that is, and a runner taking a singleton over waits until the previous one has let go (Postgres
 * frees the lock when that runner's connection ends, a kill -9 included), so two never overlap.
 */
import { Singleton } from "@effect/cluster"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/** The advisory lock key of each singleton (beside the cluster's shard locks, 1000001-1000300). */
export const singletonLocks = { "telegram-poller": 2_000_001 } as const
export type SingletonName = keyof typeof singletonLocks

/** Holds the singleton's lock until the scope closes (Postgres); nothing elsewhere. */
const holdLock = (name: SingletonName) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () =>
        Effect.gen(function*() {
          const conn = yield* Effect.orDie(sql.reserve)
          const key = singletonLocks[name]
          yield* Effect.orDie(conn.executeRaw(`SELECT pg_advisory_lock(${key})`, []))
          yield* Effect.addFinalizer(() => Effect.ignore(conn.executeRaw(`SELECT pg_advisory_unlock(${key})`, [])))
        }),
      orElse: () => Effect.void
    }))

/** A layer that runs `run` on exactly one runner, restarted on another if that one stops. */
export const singleton = <E, R>(name: SingletonName, run: Effect.Effect<void, E, R>) =>
  Singleton.make(
    name,
    Effect.scoped(Effect.zipRight(holdLock(name), run)).pipe(
      Effect.onInterrupt(() => Effect.logInfo(`${name} stopped on this runner`))
    )
  )
