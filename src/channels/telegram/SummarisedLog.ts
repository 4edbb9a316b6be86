/**
 * Log lines anyone on the internet can trigger (updates from strangers, ignored update kinds,
 * rejected webhook requests) at a bounded rate: the first of each kind in a `logSummaryInterval`
 * is logged, the rest are counted and summarised in one line at the end of the interval. A flood
 * of 10,000 updates writes a few lines, not 10,000.
 */
import { Duration, Effect, type LogLevel, Schedule } from "effect"
import { TelegramTimings } from "./TelegramTimings.ts"

/** Distinct kinds counted per interval; kinds past it (a stranger controls some names) share one count. */
const maxKinds = 50
const otherKinds = "other"

interface Tally {
  readonly level: LogLevel.LogLevel
  count: number
}

export class SummarisedLog extends Effect.Service<SummarisedLog>()("minibot/SummarisedLog", {
  scoped: Effect.gen(function*() {
    const timings = yield* TelegramTimings
    const tallies = new Map<string, Tally>()

    /** Logs `kind: detail` if it is the first `kind` of this interval, else only counts it. */
    const note = (level: LogLevel.LogLevel, kind: string, detail: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const key = tallies.has(kind) || tallies.size < maxKinds ? kind : otherKinds
        const tally = tallies.get(key)
        if (tally !== undefined) {
          tally.count += 1
          return Effect.void
        }
        tallies.set(key, { level, count: 1 })
        return Effect.logWithLevel(level, `${kind}: ${detail} (more like it are counted, not logged)`)
      })

    /** One line per kind that came more than once in the interval, with its count. */
    const summarise = Effect.suspend(() => {
      const repeated = [...tallies].filter(([, tally]) => tally.count > 1)
      tallies.clear()
      return Effect.forEach(repeated, ([kind, tally]) =>
        Effect.logWithLevel(
          tally.level,
          `${kind}: ${tally.count} in the last ${Duration.format(timings.logSummaryInterval)}`
        ), { discard: true })
    })

    yield* summarise.pipe(
      Effect.repeat(Schedule.spaced(timings.logSummaryInterval)),
      Effect.delay(timings.logSummaryInterval),
      Effect.annotateLogs("component", "telegram"),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => summarise)
    return { note } as const
  })
}) {}
