/**
 * Pausing a channel's intake (`POST /api/channels/{name}/pause`): while a channel is paused it
 * takes no new messages, and leaves them with the platform instead (Telegram's long polling stops
 * calling getUpdates, so the offset stays where it is; its webhook answers 503 so Telegram
 * retries). Resuming continues from the stored offset: nothing is lost, nothing doubles. Replies
 * and scheduled jobs keep going out while paused.
 *
 * A pause is stored (`channel_pauses`) before it takes effect, and read when the daemon starts:
 * a paused channel stays paused across a restart until the operator resumes it. On Postgres,
 * where several runners share the table and an operator behind a load balancer cannot choose
 * the runner that polls Telegram, every runner also reads it again every `pauseRefresh`: a pause
 * or resume made through any runner stops or restarts the poller and every webhook route within
 * seconds. Re-reading rather than LISTEN/NOTIFY: nothing to miss while a connection is down.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Clock, Context, Duration, Effect, Layer, Schedule } from "effect"

/** How often each runner on Postgres reads the pauses made through the other runners. */
export const pauseRefresh = Schedule.spaced(Duration.seconds(2))

interface Gate {
  paused: boolean
  readonly open: Effect.Latch
  readonly closed: Effect.Latch
}

/** Where pauses are kept: the `channel_pauses` table, or nowhere (a channel built alone in a test). */
interface PauseStore {
  /** Other processes write it too (Postgres): what it says wins over what this process knew. */
  readonly shared: boolean
  readonly paused: Effect.Effect<ReadonlyArray<string>, SqlError.SqlError>
  readonly save: (name: string, at: number) => Effect.Effect<void, SqlError.SqlError>
  readonly remove: (name: string) => Effect.Effect<void, SqlError.SqlError>
}

const nowhere: PauseStore = {
  shared: false,
  paused: Effect.succeed([]),
  save: () => Effect.void,
  remove: () => Effect.void
}

const sqlStore = (sql: SqlClient.SqlClient): PauseStore => ({
  shared: sql.onDialectOrElse({ pg: () => true, orElse: () => false }),
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
  /** Pauses, resumptions and re-reads one at a time: a re-read never undoes a pause stored meanwhile. */
  const lock = Effect.unsafeMakeSemaphore(1)

  /** Opens or closes `name`'s intake here, without storing anything; false when it already was so. */
  const set = (name: string, paused: boolean) =>
    Effect.suspend(() => {
      const g = gate(name)
      if (g.paused === paused) return Effect.succeed(false)
      g.paused = paused
      return paused
        ? Effect.as(Effect.zipRight(g.open.close, g.closed.open), true)
        : Effect.as(Effect.zipRight(g.closed.close, g.open.open), true)
    })

  /** Takes the stored pauses as they are (another runner may have changed them); logs each change. */
  const adopt = Effect.gen(function*() {
    const stored = new Set(yield* store.paused)
    const known = [...gates.keys()].filter((name) => !stored.has(name))
    for (const name of [...stored, ...known]) {
      const paused = stored.has(name)
      if (yield* set(name, paused)) {
        yield* Effect.logInfo(
          `channel ${paused ? "paused" : "resumed"} by the operator through another runner`
        ).pipe(Effect.annotateLogs("channel", name))
      }
    }
  })

  /** Before a change asked here: the stored state, when other runners share it, so the answer is true. */
  const current = store.shared ? adopt : Effect.void

  return {
    isPaused: (name: string) => gates.get(name)?.paused ?? false,
    /** Pauses `name` (stored first, so a restart keeps it); false when it already was. */
    pause: (name: string) =>
      Effect.gen(function*() {
        yield* current
        if (gate(name).paused) return false
        yield* store.save(name, yield* Clock.currentTimeMillis)
        return yield* set(name, true)
      }).pipe(lock.withPermits(1)),
    /** Resumes `name`; false when it was not paused. */
    resume: (name: string) =>
      Effect.gen(function*() {
        yield* current
        if (!gate(name).paused) return false
        yield* store.remove(name)
        return yield* set(name, false)
      }).pipe(lock.withPermits(1)),
    /**
     * Re-reads the stored pauses every `pauseRefresh`, forever, when other runners share them (a
     * failed read is logged once and retried at the next turn); returns at once otherwise.
     */
    follow: Effect.suspend(() => {
      if (!store.shared) return Effect.void
      let failing = false
      const turn = adopt.pipe(
        lock.withPermits(1),
        Effect.tap(() => {
          if (!failing) return Effect.void
          failing = false
          return Effect.logInfo("the channel pauses can be read again")
        }),
        Effect.catchAll((error) => {
          if (failing) return Effect.void
          failing = true
          return Effect.logWarning(
            "cannot read the channel pauses made through other runners; retrying",
            error
          )
        })
      )
      return Effect.asVoid(Effect.repeat(turn, pauseRefresh))
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
  /**
   * One gate shared by the daemon's channels and the API, starting with the pauses stored; on
   * Postgres it follows the pauses made through the other runners while it lives.
   */
  static readonly layer: Layer.Layer<ChannelGate, never, SqlClient.SqlClient> = Layer.scoped(
    ChannelGate,
    Effect.gen(function*() {
      const store = sqlStore(yield* SqlClient.SqlClient)
      const paused = yield* Effect.orDie(store.paused)
      if (paused.length > 0) {
        yield* Effect.logWarning(
          `paused by the operator, and still paused: ${paused.join(", ")} (POST /api/channels/{name}/resume)`
        )
      }
      const gate = make(store, paused)
      yield* Effect.forkScoped(gate.follow.pipe(Effect.annotateLogs("component", "channels")))
      return gate
    })
  )
}
