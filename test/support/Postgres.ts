/**
 * A fresh Postgres database per test on the local server (127.0.0.1:5432, trust auth), dropped
 * afterwards, so runs never collide. `MINIBOT_TEST_PG` overrides the server URL (without a path).
 * Every test that needs it has "Postgres" in its name: `npm run test:unit` leaves them out.
 */
import { Reactivity } from "@effect/experimental"
import { PgClient } from "@effect/sql-pg"
import { Cause, Effect, Exit, Redacted, Scope } from "effect"

export const serverUrl = process.env.MINIBOT_TEST_PG ?? "postgres://postgres@127.0.0.1:5432"

/** Where the tests looked, without a password. */
const address = () => {
  try {
    const url = new URL(serverUrl)
    if (url.password !== "") url.password = "***"
    return url.toString().replace(/\/$/, "")
  } catch {
    return "(MINIBOT_TEST_PG is not a URL)"
  }
}

const reasonOf = (e: unknown): string => {
  const cause = (e as { cause?: unknown }).cause
  const own = e instanceof Error || (typeof e === "object" && e !== null && "message" in e)
    ? String((e as { message: unknown }).message)
    : String(e)
  return cause === undefined ? own : `${own}: ${reasonOf(cause)}`
}

/** The failure a developer without a server sees: which server, where, and how to point the tests elsewhere. */
const noServer = (e: unknown) =>
  new Error(
    `this test needs a PostgreSQL server and could not use the one at ${address()} (${reasonOf(e)}). ` +
      "Start one there (trust authentication), or set MINIBOT_TEST_PG=postgres://user:password@host:5432 " +
      "to use another; `npm run test:unit` runs every test that needs no server"
  )

const admin = PgClient.make({ url: Redacted.make(`${serverUrl}/postgres`), maxConnections: 1 }).pipe(
  Effect.provide(Reactivity.layer)
)

/** Creates `minibot_test_<random>`; drops it (and its connections) when the scope closes. Returns its URL. */
export const freshDatabase = Effect.acquireRelease(
  Effect.gen(function*() {
    const name = `minibot_test_${Math.random().toString(36).slice(2, 10)}`
    yield* Effect.scoped(Effect.flatMap(admin, (sql) => sql`CREATE DATABASE ${sql(name)}`)).pipe(
      Effect.catchAllCause((cause) => Effect.die(noServer(Cause.squash(cause))))
    )
    return { name, url: `${serverUrl}/${name}` }
  }),
  ({ name }) =>
    Effect.scoped(Effect.flatMap(admin, (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`)).pipe(
      Effect.orDie
    )
).pipe(Effect.orDie)

/** `freshDatabase` for a process test: dropped by `onCleanup` (a `processScope`'s), after the processes. */
export const databaseDroppedBy = (onCleanup: (close: () => Promise<unknown>) => void) => () => {
  const scope = Effect.runSync(Scope.make())
  onCleanup(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return Effect.runPromise(Scope.extend(freshDatabase, scope))
}

/**
 * What the mailboxes and the turn ledger of the database at `url` hold for conversations whose
 * key contains `like`: for a test's failure message, when a message went unanswered.
 */
export const mailboxStateOf = (url: string, like: string) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(
      PgClient.make({ url: Redacted.make(url), maxConnections: 1 }).pipe(Effect.provide(Reactivity.layer)),
      (sql) =>
        Effect.all({
          messages: sql`
            SELECT m.id::text, m.entity_id, m.tag, m.shard_id, m.processed, m.last_read, r.kind AS reply_kind,
              substr(r.payload, 1, 200) AS reply
            FROM cluster_messages m LEFT JOIN cluster_replies r ON r.request_id = m.id
            WHERE m.entity_id LIKE ${`%${like}%`} ORDER BY m.id
          `,
          turns: sql`SELECT message_id, status, error FROM turns WHERE conversation_key LIKE ${`%${like}%`}`
        })
    )).pipe(
      Effect.map((state) => JSON.stringify(state)),
      Effect.catchAllCause((cause) => Effect.succeed(Cause.pretty(cause)))
    )
  )
