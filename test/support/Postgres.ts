/**
 * A fresh Postgres database per test on the local server (127.0.0.1:5432, trust auth), dropped
 * afterwards, so runs never collide. `MINIBOT_TEST_PG` overrides the server URL (without a path).
 */
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"

export const serverUrl = process.env.MINIBOT_TEST_PG ?? "postgres://postgres@127.0.0.1:5432"

const admin = PgClient.make({ url: Redacted.make(`${serverUrl}/postgres`), maxConnections: 1 }).pipe(
  Effect.provide(Reactivity.layer)
)

/** Creates `minibot_test_<random>`; drops it (and its connections) when the scope closes. Returns its URL. */
export const freshDatabase = Effect.acquireRelease(
  Effect.gen(function*() {
    const name = `minibot_test_${Math.random().toString(36).slice(2, 10)}`
    yield* Effect.scoped(Effect.flatMap(admin, (sql) => sql`CREATE DATABASE ${sql(name)}`))
    return { name, url: `${serverUrl}/${name}` }
  }),
  ({ name }) =>
    Effect.scoped(Effect.flatMap(admin, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`)).pipe(
      Effect.orDie
    )
).pipe(Effect.orDie)
