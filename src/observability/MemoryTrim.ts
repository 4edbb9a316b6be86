/**
 * Gives memory back to the system once the daemon has gone quiet: after start-up, and after every
 * burst of messages, one garbage collection that V8 is told to make as small as it can.
 *
 * Why: V8 sizes its heap for the load it last saw and keeps it. Start-up grows the young
 * generation to its maximum (two 16 MB semi-spaces, resident although a few MB are in use), and a
 * burst of conversations grows the old generation to several times what is alive (objects of the
 * turns under way are promoted, then die there), after which an idle daemon runs no full
 * collection for minutes: 200 chats x 10 messages left 190 MB of garbage resident a minute later.
 * A memory-reducing collection (the one V8 runs under memory pressure) shrinks the young
 * generation, compacts the old one and releases the freed pages. It stops the process for a
 * fraction of a second (0.3-0.9 s on a busy 2-core machine, with 45 MB alive), so it runs only
 * when nothing has happened for a whole `quietCheck`.
 */
import { Duration, Effect, Layer, Metric, Schedule } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Metrics from "./Metrics.ts"

/** The first look, after start-up (the channels' first requests are under way by then). */
const startupSettle = Duration.seconds(1)
/**
 * How often activity is looked at after that: a daemon is trimmed once nothing happened over a
 * whole period, so 15-30 s after its last message (a chat a message at a time never pauses).
 */
const quietCheck = Duration.seconds(15)

type Collect = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void

/**
 * V8's `gc` function, without `--expose-gc` on the command line: the flag is set for the moment a
 * fresh context is made (that context's global gets `gc`), then unset, so no other context sees
 * it (jest's leak detector does the same). `last-resort` is the memory-reducing collection.
 */
const garbageCollector = (): Collect => {
  const exposed = (globalThis as { gc?: Collect }).gc
  if (exposed !== undefined) return exposed
  v8.setFlagsFromString("--expose-gc")
  const collect = vm.runInNewContext("gc") as Collect
  v8.setFlagsFromString("--no-expose-gc")
  return collect
}

/** What says the daemon is at work: updates and messages taken in, requests to the LLM (jobs make those too). */
export const activity: Effect.Effect<number> = Effect.map(
  Effect.all([
    Metric.value(Metrics.telegramUpdates),
    Metric.value(Metrics.messagesReceived),
    Metric.value(Metrics.llmRequests)
  ]),
  (counters) => counters.reduce((sum, counter) => sum + counter.count, 0)
)

/**
 * Runs `trim` when `activity` has not changed between two looks (`startupSettle` after start,
 * then every `quietCheck`) and has changed since the last trim. Start-up counts as activity: the
 * first quiet look trims.
 */
export const trimWhenQuiet = (options: {
  readonly activity: Effect.Effect<number>
  readonly trim: Effect.Effect<void>
}) =>
  Effect.gen(function*() {
    let seen = yield* options.activity
    let trimmedAt: number | undefined
    const look = Effect.gen(function*() {
      const now = yield* options.activity
      if (now === seen && now !== trimmedAt) {
        yield* options.trim
        trimmedAt = now
      }
      seen = now
    })
    yield* Effect.sleep(startupSettle)
    yield* Effect.repeat(look, Schedule.spaced(quietCheck))
  })

/** The daemon's trimmer, on this process's V8 heap. */
export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const collect = garbageCollector()
  const trim = Effect.suspend(() => {
    const before = process.memoryUsage.rss()
    const started = performance.now()
    collect({ type: "major", execution: "sync", flavor: "last-resort" })
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20)
    return Effect.logDebug("memory trimmed").pipe(Effect.annotateLogs({
      rss_before_mb: mb(before),
      rss_after_mb: mb(process.memoryUsage.rss()),
      pause_ms: Math.round(performance.now() - started)
    }))
  })
  yield* Effect.forkScoped(trimWhenQuiet({ activity, trim }).pipe(Effect.annotateLogs("component", "memory")))
}))
