/**
 * Renders Effect's metric registry in the Prometheus text exposition format (version 0.0.4), with
 * the process figures. Effect's own fiber counters are left out (a fiber that ends by failing is
 * routine, yet `effect_fiber_failures` reads like trouble); @effect/cluster's gauges get our prefix.
 */
import { Effect, Metric, MetricState, Option } from "effect"
import type { MetricPair } from "effect"
import * as Metrics from "./Metrics.ts"
import * as ProcessMetrics from "./ProcessMetrics.ts"

/** The exported name of a library metric, or undefined to leave it out. */
const exportedName = (name: string): string | undefined =>
  name.startsWith("effect_fiber_")
    ? undefined
    : name.startsWith("effect_cluster_")
    ? `minibot_cluster_${name.slice("effect_cluster_".length)}`
    : name

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")
const num = (n: number | bigint) =>
  typeof n === "bigint" ? n.toString() : Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN"

const labels = (tags: ReadonlyArray<{ key: string; value: string }>, extra: Record<string, string> = {}) => {
  const all = [...tags.map((t) => [t.key, t.value] as const), ...Object.entries(extra)]
  return all.length === 0 ? "" : `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
}

const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, { type: string; help: string; lines: Array<string> }>()
  const family = (name: string, type: string, help: string | undefined) => {
    const existing = families.get(name)
    if (existing) return existing.lines
    const created = { type, help: help ?? name, lines: [] as Array<string> }
    families.set(name, created)
    return created.lines
  }
  for (const { metricKey, metricState: state } of pairs) {
    const name = exportedName(metricKey.name)
    if (name === undefined) continue
    const key = { name, tags: metricKey.tags }
    const help = Option.getOrUndefined(metricKey.description)
    const tags = key.tags
    if (MetricState.isCounterState(state)) {
      family(key.name, "counter", help).push(`${key.name}${labels(tags)} ${num(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      family(key.name, "gauge", help).push(`${key.name}${labels(tags)} ${num(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const lines = family(key.name, "histogram", help)
      for (const [boundary, count] of state.buckets) {
        lines.push(`${key.name}_bucket${labels(tags, { le: num(boundary) })} ${count}`)
      }
      if (!state.buckets.some(([b]) => b === Number.POSITIVE_INFINITY)) {
        lines.push(`${key.name}_bucket${labels(tags, { le: "+Inf" })} ${state.count}`)
      }
      lines.push(`${key.name}_sum${labels(tags)} ${num(state.sum)}`)
      lines.push(`${key.name}_count${labels(tags)} ${state.count}`)
    } else if (MetricState.isFrequencyState(state)) {
      const lines = family(key.name, "counter", help)
      for (const [value, count] of state.occurrences) lines.push(`${key.name}${labels(tags, { value })} ${count}`)
    } else if (MetricState.isSummaryState(state)) {
      const lines = family(key.name, "summary", help)
      for (const [q, value] of state.quantiles) {
        lines.push(
          `${key.name}${labels(tags, { quantile: String(q) })} ${num(Option.getOrElse(value, () => Number.NaN))}`
        )
      }
      lines.push(`${key.name}_sum${labels(tags)} ${num(state.sum)}`)
      lines.push(`${key.name}_count${labels(tags)} ${state.count}`)
    }
  }
  return [...families.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, f]) => `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n${f.lines.join("\n")}\n`)
    .join("")
}

/** The current value of every metric, as Prometheus text. */
export const scrape: Effect.Effect<string> = Effect.gen(function*() {
  yield* Metrics.registerAll
  const registry = render(yield* Metric.snapshot)
  return registry + (yield* ProcessMetrics.render)
})
