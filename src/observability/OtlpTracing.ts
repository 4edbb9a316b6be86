/**
 * The OTLP/HTTP trace exporter of `[telemetry]` (loaded by `Tracing.ts` only when enabled):
 * @effect/opentelemetry's `OtlpTracer`, JSON over the global fetch, in batches every few seconds
 * and once more at shutdown. Sampling is decided at a trace's root and followed by its children,
 * also across runners (the `sampled` flag travels with the mailbox message).
 *
 * Without an external OpenTelemetry SDK: the exporter is Effect's own, so the only addition to
 * the process is this chunk (about 16 kB), loaded when `[telemetry] enabled`.
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import { FetchHttpClient, Headers } from "@effect/platform"
import { Duration, Effect, Layer, Option, Redacted, Tracer } from "effect"
import type { TelemetryConfig } from "../config/Config.ts"
import { version } from "./Build.ts"

const exportInterval = Duration.seconds(5)
/** At shutdown, spans still buffered get this long to reach the collector. */
const shutdownTimeout = Duration.seconds(3)

const randomHex = (length: number) => {
  let id = ""
  for (let i = 0; i < length; i++) id += Math.floor(Math.random() * 16).toString(16)
  return id
}

const withoutCredentials = (url: string) => {
  const parsed = new URL(url)
  parsed.username = ""
  parsed.password = ""
  return parsed.toString()
}

/** A span that is not exported: its ids still propagate, with `sampled: false`, to its children. */
const unsampledSpan = (
  name: string,
  parent: Option.Option<Tracer.AnySpan>,
  context: Tracer.Span["context"],
  links: ReadonlyArray<Tracer.SpanLink>,
  startTime: bigint,
  kind: Tracer.SpanKind
): Tracer.Span => {
  const attributes = new Map<string, unknown>()
  const allLinks = [...links]
  const span: Tracer.Span = {
    _tag: "Span",
    name,
    spanId: randomHex(16),
    traceId: Option.match(parent, { onNone: () => randomHex(32), onSome: (p) => p.traceId }),
    parent,
    context,
    status: { _tag: "Started", startTime },
    attributes,
    links: allLinks,
    sampled: false,
    kind,
    end: (endTime, exit) => {
      ;(span as { status: Tracer.SpanStatus }).status = { _tag: "Ended", startTime, endTime, exit }
    },
    attribute: (key, value) => void attributes.set(key, value),
    event: () => {},
    addLinks: (more) => void allLinks.push(...more)
  }
  return span
}

/**
 * A statement with no traced work around it is a background poll (the mailboxes are read every
 * `poll_interval_ms`): a trace of its own each time would bury the messages' traces.
 */
const isBackgroundStatement = (name: string) => name.startsWith("sql.")

/**
 * Decides at a trace's root: `ratio` of the roots are kept (never a lone SQL statement), and every
 * other span follows its parent, also one whose parent came with a mailbox message from another runner.
 */
export const sampling = (tracer: Tracer.Tracer, ratio: number): Tracer.Tracer =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const keep = Option.match(parent, {
        onNone: () => !isBackgroundStatement(name) && Math.random() < ratio,
        onSome: (p) => p.sampled
      })
      return keep
        ? tracer.span(name, parent, context, links, startTime, kind, options)
        : unsampledSpan(name, parent, context, links, startTime, kind)
    },
    context: (f, fiber) => tracer.context(f, fiber)
  })

export const layer = (config: TelemetryConfig): Layer.Layer<never> =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const headers = Object.fromEntries(
        Object.entries(config.headers).map(([name, value]) => [name, Redacted.value(value)])
      )
      const tracer = yield* OtlpTracer.make({
        url: config.endpoint,
        resource: { serviceName: config.service_name, serviceVersion: version },
        headers,
        exportInterval,
        shutdownTimeout
      }).pipe(
        // An export that fails is logged (at debug) with its request: its headers show as redacted.
        Effect.locallyWith(Headers.currentRedactedNames, (names) => [...names, ...Object.keys(headers)])
      )
      yield* Effect.logInfo("exporting traces").pipe(
        Effect.annotateLogs({ endpoint: withoutCredentials(config.endpoint), sample_ratio: config.sample_ratio })
      )
      return Layer.setTracer(sampling(tracer, config.sample_ratio))
    })
  ).pipe(Layer.provide(Layer.merge(FetchHttpClient.layer, OtlpSerialization.layerJson)))
