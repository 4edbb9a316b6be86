/**
 * The `[telemetry]` tracer in process, against a loopback OTLP receiver: what is kept, what is
 * sampled away, and what the settings accept.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { makeConfig } from "../../src/config/Config.ts"
import { parseConfigText } from "../../src/config/ConfigLoader.ts"
import * as Tracing from "../../src/observability/Tracing.ts"
import { startOtlpReceiver } from "../support/OtlpReceiver.ts"

const receiver = Effect.acquireRelease(Effect.promise(startOtlpReceiver), (r) => Effect.promise(r.close))

/** Spans made under the tracer of `[telemetry]`; the layer's release sends the last batch. */
const traced = (telemetry: Record<string, unknown>) =>
  Effect.gen(function*() {
    const work = Effect.void.pipe(
      Effect.withSpan("sql.execute"),
      Effect.withSpan("Llm.complete"),
      Effect.withSpan("ConversationTurn.handle")
    )
    const poll = Effect.withSpan(Effect.void, "sql.execute")
    yield* Effect.all([work, poll, work]).pipe(
      Effect.provide(Tracing.layer(makeConfig({ telemetry: { enabled: true, ...telemetry } }).telemetry))
    )
  })

describe("the OTLP tracer", () => {
  it.live("exports whole traces, and no trace of a lone background statement", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      yield* traced({ endpoint: otlp.url })
      expect(otlp.spans.map((s) => s.name).sort()).toEqual([
        "ConversationTurn.handle",
        "ConversationTurn.handle",
        "Llm.complete",
        "Llm.complete",
        "sql.execute",
        "sql.execute"
      ])
      expect(new Set(otlp.spans.map((s) => s.traceId)).size).toBe(2)
      expect(otlp.spans[0]!.service).toBe("minibot")
    }).pipe(Effect.scoped))

  it.live("sample_ratio = 0 exports nothing", () =>
    Effect.gen(function*() {
      const otlp = yield* receiver
      yield* traced({ endpoint: otlp.url, sample_ratio: 0 })
      expect(otlp.spans).toEqual([])
    }).pipe(Effect.scoped))

  it("a bare collector address means its /v1/traces; the defaults are off, local and whole", () => {
    expect(makeConfig({ telemetry: { endpoint: "http://otel:4318" } }).telemetry.endpoint).toBe(
      "http://otel:4318/v1/traces"
    )
    expect(makeConfig({ telemetry: { endpoint: "https://api.example.com/otlp/v1/traces" } }).telemetry.endpoint)
      .toBe("https://api.example.com/otlp/v1/traces")
    const { telemetry } = makeConfig({})
    expect(telemetry).toMatchObject({
      enabled: false,
      endpoint: "http://127.0.0.1:4318/v1/traces",
      service_name: "minibot",
      sample_ratio: 1
    })
  })

  it.effect("a wrong endpoint, header name or ratio names its key, and never a header's value", () =>
    Effect.gen(function*() {
      const parsed = yield* Effect.either(parseConfigText(
        `[telemetry]
endpoint = "otel:4318"
sample_ratio = 1.5
headers = { "bad header" = "hdr-secret-value-123", "x-api-key" = 7 }
`,
        {},
        "config.toml"
      ))
      const problems = Either.isLeft(parsed) ? parsed.left.problems : []
      expect(problems.map((p) => p.split(":")[0])).toEqual(expect.arrayContaining([
        "telemetry.endpoint",
        "telemetry.sample_ratio"
      ]))
      expect(problems.some((p) => p.startsWith("telemetry.headers"))).toBe(true)
      expect(problems.join("\n")).not.toContain("hdr-secret-value-123")
    }))
})
