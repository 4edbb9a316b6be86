/**
 * Pausing a channel's intake (`POST /api/channels/{name}/pause`): while a channel is paused it
 * takes no new messages, and leaves them with the platform instead (Telegram's long polling stops
 * calling getUpdates, so the offset stays where it is; its webhook answers 503 so Telegram
 * retries). Resuming continues from the stored offset: nothing is lost, nothing doubles. Replies
 * and scheduled jobs keep going out while paused.
 *
 * A pause is stored (`channel_pauses`) before it takes effect, and read when the daemon starts:
 * a paused channel stays paused across a restart until the operator resumes it. Each process
 * reads the table at its start only: with several runners, pause on the one that polls Telegram.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Clock, Context, Effect, Layer } from "effect"

interface Gate {
  paused: boolean
  readonly open: Effect.Latch
  readonly closed: Effect.Latch
}

/** Where pauses are kept: the `channel_pauses` table, or nowhere (a channel built alone in a test). */
interface PauseStore {
  readonly paused: Effect.Effect<ReadonlyArray<string>, SqlError.SqlError>
  readonly save: (name: string, at: number) => Effect.Effect<void, SqlError.SqlError>
  readonly remove: (name: string) => Effect.Effect<void, SqlError.SqlError>
}

const nowhere: PauseStore = { paused: Effect.succeed([]), save: () => Effect.void, remove: () => Effect.void }

const sqlStore = (sql: SqlClient.SqlClient): PauseStore => ({
  paused: Effect.map(
    sql<{ channel: string }>`SELECT channel FROM channel_pauses`,
    (rows) => rows.map((r) => r.channel)
  ),
  save: (name, at) =>
    Effect.asVoid(
      sql`INSERT INTO channel_pauses (channel, paused_at) VALUES (${name}, ${at}) ON CONFLICT (channel) DO NOTHING`
    ),
  remove: (name) => Effect.asVoid(sql`DELETE FROM channel_pauses WHERE channel = ${name}`)
})

const make = (store: PauseStore, initiallyPaused: ReadonlyArray<string>) => {
  const gates = new Map<string, Gate>()
  const gate = (name: string): Gate => {
    const known = gates.get(name)
    if (known !== undefined) return known
    const created = { paused: false, open: Effect.unsafeMakeLatch(true), closed: Effect.unsafeMakeLatch(false) }
    gates.set(name, created)
    return created
  }
  for (const name of initiallyPaused) {
    gates.set(name, { paused: true, open: Effect.unsafeMakeLatch(false), closed: Effect.unsafeMakeLatch(true) })
  }
  return {
    isPaused: (name: string) => gates.get(name)?.paused ?? false,
    /** Pauses `name` (stored first, so a restart keeps it); false when it already was. */
    pause: (name: string) =>
      Effect.suspend(() => {
        const g = gate(name)
        if (g.paused) return Effect.succeed(false)
        return Effect.gen(function*() {
          yield* store.save(name, yield* Clock.currentTimeMillis)
          g.paused = true
          yield* g.open.close
          yield* g.closed.open
          return true
        })
      }),
    /** Resumes `name`; false when it was not paused. */
    resume: (name: string) =>
      Effect.suspend(() => {
        const g = gate(name)
        if (!g.paused) return Effect.succeed(false)
        return Effect.gen(function*() {
          yield* store.remove(name)
          g.paused = false
          yield* g.closed.close
          yield* g.open.open
          return true
        })
      }),
    /** Returns at once when `name` is running; waits for its resumption when paused. */
    whenRunning: (name: string) => Effect.suspend(() => gate(name).open.await),
    /** Returns when `name` is paused (to stop a long poll in flight). */
    whenPaused: (name: string) => Effect.suspend(() => gate(name).closed.await)
  } as const
}

/** A reference, not a requirement: a channel built alone (in a test) is never paused. */
export class ChannelGate extends Context.Reference<ChannelGate>()("minibot/ChannelGate", {
  defaultValue: () => make(nowhere, [])
}) {
  /** One gate shared by the daemon's channels and the API, starting with the pauses stored. */
  static readonly layer: Layer.Layer<ChannelGate, never, SqlClient.SqlClient> = Layer.effect(
    ChannelGate,
    Effect.gen(function*() {
      const store = sqlStore(yield* SqlClient.SqlClient)
      const paused = yield* Effect.orDie(store.paused)
      if (paused.length > 0) {
        yield* Effect.logWarning(
          `paused by the operator, and still paused: ${paused.join(", ")} (POST /api/channels/{name}/resume)`
        )
      }
      return make(store, paused)
    })
  )
}
