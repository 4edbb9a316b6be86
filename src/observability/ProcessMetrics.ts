/**
 * The standard process figures of `/metrics`: CPU, resident memory and heap are read when scraped
 * (`render`); event-loop lag and garbage-collection pauses need watching between scrapes, which
 * `layer` does for as long as the daemon runs.
 */
import { Duration, Effect, Layer, Metric, Schedule } from "effect"
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import * as Metrics from "./Metrics.ts"

/** How often the event-loop lag gauges are refreshed (each value covers this interval). */
const lagInterval = Duration.seconds(5)
/** The delay monitor's sampling resolution. */
const lagResolutionMs = 20

const gcKinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
}

/** Watches the event loop and the garbage collector, feeding the gauges and histogram of Metrics.ts. */
export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const delay = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const histogram = monitorEventLoopDelay({ resolution: lagResolutionMs })
      histogram.enable()
      return histogram
    }),
    (histogram) => Effect.sync(() => histogram.disable())
  )
  const sample = Effect.suspend(() => {
    // The monitor reports nanoseconds, and adds its own resolution to every sample.
    const seconds = (ns: number) => Math.max(0, ns / 1e9 - lagResolutionMs / 1000)
    const mean = Number.isNaN(delay.mean) ? 0 : seconds(delay.mean)
    const max = seconds(delay.max)
    delay.reset()
    return Effect.zipRight(Metric.set(Metrics.eventLoopLag, mean), Metric.set(Metrics.eventLoopLagMax, max))
  })
  yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced(lagInterval)))

  // Collections come by the dozen a second under load: each is one histogram update, made here
  // directly rather than through a fiber of its own, on the series of its kind made once.
  const byKind = new Map<string, typeof Metrics.gcDuration>()
  const seriesOf = (kind: string) => {
    let series = byKind.get(kind)
    if (series === undefined) {
      series = Metric.tagged(Metrics.gcDuration, "kind", kind)
      byKind.set(kind, series)
    }
    return series
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          const kind = gcKinds[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? "other"
          seriesOf(kind).unsafeUpdate(entry.duration / 1000, [])
        }
      })
      observer.observe({ entryTypes: ["gc"] })
      return observer
    }),
    (observer) => Effect.sync(() => observer.disconnect())
  )
}))

const startTime = Date.now() / 1000 - process.uptime()

const family = (name: string, type: string, help: string, value: number) =>
  `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`

/** CPU, memory and heap of this process now, as Prometheus text. */
export const render: Effect.Effect<string> = Effect.sync(() => {
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  return [
    family("process_cpu_user_seconds_total", "counter", "User CPU time spent", cpu.user / 1e6),
    family("process_cpu_system_seconds_total", "counter", "System CPU time spent", cpu.system / 1e6),
    family("process_cpu_seconds_total", "counter", "User and system CPU time spent", (cpu.user + cpu.system) / 1e6),
    family("process_resident_memory_bytes", "gauge", "Resident memory size", memory.rss),
    family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch", startTime),
    family("nodejs_heap_size_total_bytes", "gauge", "V8 heap size", memory.heapTotal),
    family("nodejs_heap_size_used_bytes", "gauge", "V8 heap used", memory.heapUsed),
    family("nodejs_external_memory_bytes", "gauge", "Memory of C++ objects bound to JavaScript", memory.external)
  ].join("")
})
