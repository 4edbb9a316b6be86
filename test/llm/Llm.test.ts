import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Logger, Metric, Option } from "effect"
import { createRequire } from "node:module"
import { AppConfig, makeConfig } from "../../src/config/Config.ts"
import * as Chat from "../../src/domain/ChatMessage.ts"
import {
  type Completion,
  type CompletionRequest,
  Llm,
  LlmError,
  type LlmFailureReason,
  userMessage
} from "../../src/llm/Llm.ts"
import { parseRetryAfter, toRequestBody } from "../../src/llm/OpenAiLlm.ts"
import * as Metrics from "../../src/observability/Metrics.ts"
import { FakeLlm, fakeLlmSection, type FakeLlmServer } from "../support/FakeLlm.ts"

const fastRetries = { retryBase: "10 millis" } as const

/** The real `Llm.openai` layer, pointed at the fake. */
const llmLayer = (fake: FakeLlmServer, llm: Record<string, unknown> = {}) =>
  Llm.openaiWith(fastRetries).pipe(
    Layer.provide(AppConfig.layer(makeConfig({ llm: fakeLlmSection(fake, llm) }))),
    Layer.orDie
  )

const complete = (fake: FakeLlmServer, request: CompletionRequest, llm: Record<string, unknown> = {}) =>
  Effect.flatMap(Llm, (service) => service.complete(request)).pipe(Effect.provide(llmLayer(fake, llm)))

const hi: CompletionRequest = { messages: [Chat.system("be brief"), Chat.user("hi")] }

const failure = (exit: Exit.Exit<Completion, LlmError>): LlmError => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const error = Cause.failureOption(exit.cause)
  if (Option.isNone(error)) throw new Error(`expected an LlmError, got ${Cause.pretty(exit.cause)}`)
  return error.value
}

/** Runs `effect` with every log line (logfmt, as the daemon writes them) captured in `lines`. */
const capturingLogs = (lines: Array<string>) =>
  Logger.replace(Logger.defaultLogger, Logger.logfmtLogger.pipe(Logger.map((line) => lines.push(line))))

const logfmt = createRequire(import.meta.url)("logfmt") as { parse(line: string): Record<string, string> }

/** The log lines that report a final failure (not the retries), parsed. */
const finalFailures = (lines: ReadonlyArray<string>) =>
  lines.map((line) => logfmt.parse(line)).filter((fields) => fields.message?.startsWith("LLM request failed after"))

/** Runs `complete` with the logs captured; returns the error and the final-failure lines. */
const failWithLogs = (fake: FakeLlmServer, llm: Record<string, unknown> = {}, request: CompletionRequest = hi) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const error = failure(yield* Effect.exit(complete(fake, request, llm).pipe(Effect.provide(capturingLogs(lines)))))
    return { error, lines, logged: finalFailures(lines) }
  })

const counter = (metric: Metric.Metric.Counter<number>) => Metric.value(metric).pipe(Effect.map((s) => s.count))

describe("Llm.openai against the fake server", () => {
  it.scopedLive("answers a plain completion", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const result = yield* complete(fake, hi)
      expect(result.content).toBe("echo: hi")
      expect(result.toolCalls).toEqual([])
      expect(result.finishReason).toBe("stop")
      expect(result.attempts).toBe(1)
      expect(result.usage?.totalTokens).toBeGreaterThan(0)

      expect(fake.requests).toHaveLength(1)
      const body = fake.requests[0]!.body
      expect(body.model).toBe("fake-model")
      expect(body.messages).toEqual([{ role: "system", content: "be brief" }, { role: "user", content: "hi" }])
      expect(body.max_tokens).toBe(1024)
      expect(body.temperature).toBe(0.7)
      expect(body.tools).toBeUndefined()
      // No key configured and a local server (Ollama, llama.cpp): no Authorization header at all.
      expect(fake.requests[0]!.headers.authorization).toBeUndefined()
    }))

  it.scopedLive("sends the configured key as a bearer token", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make({ expectedApiKey: "sk-local-key-123456" })
      const result = yield* complete(fake, hi, { api_key: "sk-local-key-123456" })
      expect(result.content).toBe("echo: hi")
      expect(fake.requests[0]!.headers.authorization).toBe("Bearer sk-local-key-123456")
    }))

  it.scopedLive("parses tool calls", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({
        toolCalls: [{ id: "call_a", name: "get_time", arguments: { tz: "UTC" } }, {
          name: "note",
          arguments: "{\"x\":1}"
        }]
      })
      const result = yield* complete(fake, hi)
      expect(result.content).toBeNull()
      expect(result.finishReason).toBe("tool_calls")
      expect(result.toolCalls).toEqual([
        { id: "call_a", type: "function", function: { name: "get_time", arguments: "{\"tz\":\"UTC\"}" } },
        { id: expect.any(String), type: "function", function: { name: "note", arguments: "{\"x\":1}" } }
      ])
    }))

  it.scopedLive("sends tools and replays tool calls and results the way OpenAI accepts them", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const parameters = { type: "object", properties: { tz: { type: "string" } }, required: ["tz"] }
      const call = {
        id: "call_1",
        type: "function" as const,
        function: { name: "get_time", arguments: "{\"tz\":\"UTC\"}" }
      }
      const result = yield* complete(fake, {
        messages: [
          Chat.system("sys"),
          Chat.user("earlier"),
          Chat.assistant(null), // a stored assistant turn with no text and no calls
          Chat.user("what time is it?"),
          Chat.assistant(null, [call]),
          Chat.toolResult("call_1", "12:00"),
          Chat.assistant("It is noon.")
        ],
        tools: [{ name: "get_time", description: "Current time", parameters }]
      })
      expect(result.content).toBe("echo: what time is it?")
      const body = fake.requests[0]!.body
      expect(fake.requests[0]!.status).toBe(200)
      expect(body.tools).toEqual([{
        type: "function",
        function: { name: "get_time", description: "Current time", parameters }
      }])
      expect(body.messages).toEqual([
        { role: "system", content: "sys" },
        { role: "user", content: "earlier" },
        { role: "assistant", content: "" },
        { role: "user", content: "what time is it?" },
        { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", tool_call_id: "call_1", content: "12:00" },
        { role: "assistant", content: "It is noon." }
      ])
    }))

  it.scopedLive("retries 500s and succeeds on the third request", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ status: 500 }, { status: 503 })
      const requestsBefore = yield* counter(Metrics.llmRequests)
      const result = yield* complete(fake, hi)
      expect(result.content).toBe("echo: hi")
      expect(result.attempts).toBe(3)
      expect(fake.requests.map((r) => r.status)).toEqual([500, 503, 200])
      expect((yield* counter(Metrics.llmRequests)) - requestsBefore).toBe(3)
    }))

  it.scopedLive("honours retry-after-ms on 429", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ status: 429, retryAfterMs: 300 })
      const result = yield* complete(fake, hi)
      expect(result.attempts).toBe(2)
      const waited = fake.requests[1]!.receivedAt - fake.requests[0]!.receivedAt
      expect(waited).toBeGreaterThanOrEqual(280)
    }))

  it.scopedLive("honours retry-after in seconds on 429", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ status: 429, retryAfter: 0.3 })
      yield* complete(fake, hi)
      expect(fake.requests).toHaveLength(2)
      expect(fake.requests[1]!.receivedAt - fake.requests[0]!.receivedAt).toBeGreaterThanOrEqual(280)
    }))

  it.scopedLive("gives up on a permanent 500 after 1 + retry_attempts requests", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ status: 500, message: "boom" }))
      const failuresBefore = yield* counter(Metric.tagged(Metrics.llmFailures, "reason", "server_error"))
      const error = failure(yield* Effect.exit(complete(fake, hi, { retry_attempts: 3 })))
      expect(error).toBeInstanceOf(LlmError)
      expect(error.reason).toBe("server_error")
      expect(error.status).toBe(500)
      expect(error.attempts).toBe(4)
      expect(fake.requests).toHaveLength(4)
      expect(error.message).toBe("LLM request failed: server_error (HTTP 500) after 4 attempts")
      expect(error.detail).toContain("boom")
      expect((yield* counter(Metric.tagged(Metrics.llmFailures, "reason", "server_error"))) - failuresBefore).toBe(1)
    }))

  it.scopedLive("times out a hanging server, retries, and aborts every attempt", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ hang: true }))
      const started = Date.now()
      const error = failure(yield* Effect.exit(complete(fake, hi, { request_timeout_seconds: 0.3, retry_attempts: 2 })))
      const elapsed = Date.now() - started
      expect(error.reason).toBe("timeout")
      expect(error.attempts).toBe(3)
      expect(fake.requests).toHaveLength(3)
      expect(elapsed).toBeGreaterThanOrEqual(900)
      expect(elapsed).toBeLessThan(2_500)
      yield* Effect.promise(() => fake.waitFor((f) => f.requests.every((r) => r.aborted)))
      expect(userMessage(error)).toBe(
        "Sorry, the language model did not answer in time (3 attempts). Please try again in a moment."
      )
    }))

  it.scopedLive("does not retry a 401, and names llm.api_key to the user", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make({ expectedApiKey: "sk-right-key-0000000000" })
      const error = failure(yield* Effect.exit(complete(fake, hi, { api_key: "sk-wrong-key-1111111111" })))
      expect(error.reason).toBe("auth")
      expect(error.status).toBe(401)
      expect(error.attempts).toBe(1)
      expect(fake.requests).toHaveLength(1)
      expect(userMessage(error)).toContain("llm.api_key")
    }))

  it.scopedLive("does not retry a 400 (a tool result without its call)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const error = failure(
        yield* Effect.exit(complete(fake, { messages: [Chat.user("hi"), Chat.toolResult("call_x", "orphan")] }))
      )
      expect(error.reason).toBe("bad_request")
      expect(error.status).toBe(400)
      expect(error.detail).toContain("role 'tool' must be a response")
      expect(fake.requests).toHaveLength(1)
    }))

  it.scopedLive("reports an unreadable answer as invalid_response without retrying", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ raw: JSON.stringify({ id: "x", choices: [] }) })
      const error = failure(yield* Effect.exit(complete(fake, hi)))
      expect(error.reason).toBe("invalid_response")
      expect(fake.requests).toHaveLength(1)
    }))

  it.scopedLive("retries connection errors", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      yield* Effect.promise(() => fake.close())
      const error = failure(yield* Effect.exit(complete(fake, hi, { retry_attempts: 2 })))
      expect(error.reason).toBe("connection")
      expect(error.attempts).toBe(3)
      expect(error.detail).toMatch(/ECONNREFUSED|connect/i)
    }))

  it.scopedLive("interrupting complete aborts the HTTP request", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ hang: true })
      const fiber = yield* Effect.fork(complete(fake, hi, { request_timeout_seconds: 30 }))
      yield* Effect.promise(() => fake.waitFor((f) => f.requests.length === 1))
      expect(fake.requests[0]!.aborted).toBe(false)
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => fake.waitFor((f) => f.requests[0]!.aborted, 1_000))
      expect(fake.requests).toHaveLength(1)
    }))

  it.scopedLive("never puts the API key in errors or log lines", () =>
    Effect.gen(function*() {
      const key = "sk-proj-VERYSECRET0123456789abcdef"
      const lines: Array<string> = []
      const fake = yield* FakeLlm.make({ expectedApiKey: "sk-other-expected-key-000" })
      // 401 whose message echoes the key we sent (the fake does so on purpose).
      const authError = failure(yield* Effect.exit(complete(fake, hi, { api_key: key })))
      // 500s whose message repeat the key, retried (each retry logs a warning).
      const fake2 = yield* FakeLlm.make({ expectedApiKey: key })
      fake2.script(() => ({ status: 500, message: `upstream rejected key ${key}` }))
      const serverError = failure(
        yield* Effect.exit(
          complete(fake2, hi, { api_key: key, retry_attempts: 2 }).pipe(
            // What a caller does with a failed turn: log the whole cause.
            Effect.tapErrorCause((cause) => Effect.logError("turn failed", cause))
          )
        ).pipe(Effect.provide(capturingLogs(lines)))
      )
      expect(serverError.attempts).toBe(3)
      expect(lines.filter((l) => l.includes("retrying"))).toHaveLength(2)
      expect(lines.some((l) => l.includes("attempt=1") && l.includes("reason=server_error"))).toBe(true)
      for (const error of [authError, serverError]) {
        const texts = [
          error.message,
          error.detail ?? "",
          String(error),
          JSON.stringify(error),
          JSON.stringify(error.cause),
          Cause.pretty(Cause.fail(error)),
          userMessage(error)
        ]
        for (const text of texts) {
          expect(text).not.toContain(key)
          expect(text).not.toContain("VERYSECRET")
        }
      }
      expect(lines.length).toBeGreaterThan(0)
      for (const line of lines) expect(line).not.toContain("VERYSECRET")
    }))

  it.scopedLive("counts one request per attempt and one failure per final failure", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ status: 503 }))
      const requests = yield* counter(Metrics.llmRequests)
      const failures = yield* counter(Metric.tagged(Metrics.llmFailures, "reason", "server_error"))
      const latency = yield* Metric.value(Metrics.llmLatency)
      yield* Effect.exit(complete(fake, hi, { retry_attempts: 1 }))
      expect((yield* counter(Metrics.llmRequests)) - requests).toBe(2)
      expect((yield* counter(Metric.tagged(Metrics.llmFailures, "reason", "server_error"))) - failures).toBe(1)
      expect((yield* Metric.value(Metrics.llmLatency)).count - latency.count).toBe(2)
    }))
})

describe("Llm.openai streaming (onText)", () => {
  it.scopedLive("streams the answer: the text grows token by token and the completion is the whole of it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ content: "One two three four.", tokenDelayMs: 5 })
      const seen: Array<string> = []
      const completion = yield* complete(fake, { ...hi, onText: (text) => Effect.sync(() => void seen.push(text)) })
      expect(fake.completions()[0]!.body.stream).toBe(true)
      expect(seen).toEqual(["One ", "One two ", "One two three ", "One two three four."])
      expect(completion.content).toBe("One two three four.")
      expect(completion.finishReason).toBe("stop")
      expect(completion.usage?.completionTokens).toBeGreaterThan(0)
    }))

  it.scopedLive("assembles tool calls streamed in pieces, two at once, by their index", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({
        toolCalls: [
          { id: "call_a", name: "calculator", arguments: { expression: "6 * 7" } },
          { id: "call_b", name: "current_datetime", arguments: {} }
        ]
      })
      const seen: Array<string> = []
      const completion = yield* complete(fake, { ...hi, onText: (text) => Effect.sync(() => void seen.push(text)) })
      expect(seen).toEqual([])
      expect(completion.content).toBeNull()
      expect(completion.finishReason).toBe("tool_calls")
      expect(completion.toolCalls).toEqual([
        { id: "call_a", type: "function", function: { name: "calculator", arguments: "{\"expression\":\"6 * 7\"}" } },
        { id: "call_b", type: "function", function: { name: "current_datetime", arguments: "{}" } }
      ])
    }))

  it.scopedLive("without onText the request is not streamed", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const completion = yield* complete(fake, hi)
      expect(fake.completions()[0]!.body.stream).toBeUndefined()
      expect(completion.content).toBe("echo: hi")
    }))

  it.scopedLive("interrupting a streaming completion aborts the HTTP request mid-stream", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ content: Array.from({ length: 200 }, (_, i) => `word${i}`).join(" "), tokenDelayMs: 20 })
      let last = ""
      const fiber = yield* Effect.fork(
        complete(fake, { ...hi, onText: (text) => Effect.sync(() => void (last = text)) }, {
          request_timeout_seconds: 30
        })
      )
      yield* Effect.promise(() => fake.waitFor(() => last.startsWith("word0 word1 word2"), 10_000))
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => fake.waitFor((f) => f.requests[0]!.aborted, 5_000))
      expect(last).not.toContain("word199")
    }))

  it.scopedLive("a stream that fails before its first token is retried like a plain request", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ status: 500 }, { content: "fine now" })
      const seen: Array<string> = []
      const completion = yield* complete(fake, { ...hi, onText: (text) => Effect.sync(() => void seen.push(text)) })
      expect(completion.content).toBe("fine now")
      expect(completion.attempts).toBe(2)
      expect(seen).toEqual(["fine ", "fine now"])
    }))
})

describe("a final LLM failure in the logs", () => {
  it.scopedLive("a rejected key: one error line with the status, the server's message and llm.api_key, never the key", () =>
    Effect.gen(function*() {
      const key = "sk-proj-WRONGKEY0123456789abcdef"
      const fake = yield* FakeLlm.make({ expectedApiKey: "sk-right-key-0000000000" })
      const { lines, logged } = yield* failWithLogs(fake, { api_key: key })
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({
        level: "ERROR",
        message: "LLM request failed after 1 attempt; check llm.api_key",
        component: "llm",
        reason: "auth",
        status: "401",
        config_key: "llm.api_key",
        model: "fake-model"
      })
      expect(logged[0]!.detail).toContain("Incorrect API key provided")
      for (const line of lines) expect(line).not.toContain("WRONGKEY")
    }))

  it.scopedLive("a key without access (403): llm.api_key", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ status: 403, message: "Project proj_x does not have access to model gpt-4o" })
      const { logged } = yield* failWithLogs(fake)
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({ level: "ERROR", status: "403", config_key: "llm.api_key" })
      expect(logged[0]!.detail).toContain("does not have access")
    }))

  it.scopedLive("an unknown model: llm.model", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ status: 404, message: "The model `gpt-9` does not exist or you do not have access to it." })
      const { error, logged } = yield* failWithLogs(fake, { model: "gpt-9" })
      expect(error.status).toBe(404)
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({
        level: "ERROR",
        message: "LLM request failed after 1 attempt; check llm.model",
        status: "404",
        model: "gpt-9",
        config_key: "llm.model"
      })
      expect(logged[0]!.detail).toContain("The model `gpt-9` does not exist")
    }))

  it.scopedLive("a base URL whose path the server does not know: llm.base_url", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      // The `/v1` left out: the server answers 404 to /chat/completions.
      const { logged } = yield* failWithLogs(fake, { base_url: `http://127.0.0.1:${fake.port}` })
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({
        level: "ERROR",
        message: "LLM request failed after 1 attempt; check llm.base_url",
        status: "404",
        config_key: "llm.base_url"
      })
      expect(logged[0]!.detail).toContain("Invalid URL (POST /chat/completions)")
    }))

  it.scopedLive("a refused connection, after its retries: one line naming llm.base_url", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      yield* Effect.promise(() => fake.close())
      const { lines, logged } = yield* failWithLogs(fake, { retry_attempts: 1 })
      expect(lines.filter((l) => l.includes("retrying"))).toHaveLength(1)
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({
        level: "ERROR",
        message: "LLM request failed after 2 attempts; check llm.base_url",
        reason: "connection",
        attempts: "2",
        config_key: "llm.base_url"
      })
      expect(logged[0]!.detail).toMatch(/ECONNREFUSED/)
    }))

  it.scopedLive("a failing server, after its retries: a warning with the status and no key to blame", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ status: 503, message: "overloaded" }))
      const { logged } = yield* failWithLogs(fake, { retry_attempts: 1 })
      expect(logged).toHaveLength(1)
      expect(logged[0]).toMatchObject({
        level: "WARN",
        message: "LLM request failed after 2 attempts",
        reason: "server_error",
        status: "503"
      })
      expect(logged[0]!.detail).toContain("overloaded")
      expect(logged[0]!.config_key).toBeUndefined()
    }))
})

describe("Llm.openai construction", () => {
  it.effect("refuses api.openai.com without a key, naming llm.api_key and OPENAI_API_KEY", () =>
    Effect.gen(function*() {
      const exit = yield* Layer.build(
        Llm.openai.pipe(Layer.provide(AppConfig.layer(makeConfig({ llm: { base_url: "https://api.openai.com/v1" } }))))
      ).pipe(Effect.scoped, Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) {
        const message = Cause.squash(exit.cause) as Error
        expect(message.message).toContain("llm.api_key")
        expect(message.message).toContain("OPENAI_API_KEY")
      }
    }))

  it.effect("accepts a local server without a key", () =>
    Layer.build(
      Llm.openai.pipe(Layer.provide(AppConfig.layer(makeConfig({ llm: { base_url: "http://127.0.0.1:11434/v1" } }))))
    ).pipe(Effect.scoped))

  it("uses max_completion_tokens for OpenAI and max_tokens elsewhere", () => {
    const llm = makeConfig({}).llm
    expect(toRequestBody(llm, true, hi)).toMatchObject({ max_completion_tokens: 1024 })
    expect(toRequestBody(llm, true, hi)).not.toHaveProperty("max_tokens")
    expect(toRequestBody(llm, false, hi)).toMatchObject({ max_tokens: 1024 })
  })
})

describe("retry-after parsing", () => {
  const headers = (values: Record<string, string>) => new Headers(values)
  it("reads milliseconds, seconds and HTTP dates", () => {
    expect(parseRetryAfter(headers({ "retry-after-ms": "250" }))).toEqual(Duration.millis(250))
    expect(parseRetryAfter(headers({ "retry-after": "2" }))).toEqual(Duration.millis(2000))
    const now = Date.parse("2025-01-01T00:00:00Z")
    expect(parseRetryAfter(headers({ "retry-after": "Wed, 01 Jan 2025 00:00:05 GMT" }), now)).toEqual(
      Duration.millis(5000)
    )
    expect(parseRetryAfter(headers({ "retry-after": "soon" }))).toBeUndefined()
    expect(parseRetryAfter(headers({}))).toBeUndefined()
  })
})

describe("userMessage", () => {
  const reasons: ReadonlyArray<LlmFailureReason> = [
    "timeout",
    "rate_limited",
    "server_error",
    "connection",
    "auth",
    "bad_request",
    "invalid_response"
  ]
  it("is one short line for every reason, without a stack", () => {
    for (const reason of reasons) {
      const error = new LlmError({
        reason,
        status: 500,
        attempts: 3,
        cause: new Error("inner failure"),
        message: `LLM request failed: ${reason}`
      })
      const text = userMessage(error)
      expect(text.length).toBeLessThan(160)
      expect(text).not.toContain("\n")
      expect(text).not.toMatch(/\bat\s+\S+\s+\(|Error:|inner failure/)
      expect(text.startsWith("Sorry")).toBe(true)
    }
  })

  it("says how many attempts were made", () => {
    const error = new LlmError({ reason: "rate_limited", attempts: 1, message: "x" })
    expect(userMessage(error)).toContain("(1 attempt)")
  })
})

describe("the fake LLM server itself", () => {
  const post = (fake: FakeLlmServer, body: unknown) =>
    fetch(`${fake.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })

  it.scopedLive("refuses an assistant tool call left without its tool result, like OpenAI", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const response = yield* Effect.promise(() =>
        post(fake, {
          model: "m",
          messages: [
            { role: "user", content: "hi" },
            {
              role: "assistant",
              content: null,
              tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }]
            },
            { role: "user", content: "again" }
          ]
        })
      )
      expect(response.status).toBe(400)
      const body = (yield* Effect.promise(() => response.json())) as {
        error: { message: string; param: string; type: string }
      }
      expect(body.error.type).toBe("invalid_request_error")
      expect(body.error.message).toContain("c1")
      expect(body.error.param).toBe("messages.[1].role")
    }))

  it.scopedLive("streams SSE chunks when asked, and measures handling time with its latency", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.setLatency(50)
      const response = yield* Effect.promise(() =>
        post(fake, { model: "m", stream: true, messages: [{ role: "user", content: "one two three" }] })
      )
      expect(response.headers.get("content-type")).toContain("text/event-stream")
      const text = yield* Effect.promise(() => response.text())
      const events = text.split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6))
      expect(events.at(-1)).toBe("[DONE]")
      const content = events.slice(0, -1)
        .map((e) =>
          (JSON.parse(e) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? ""
        )
        .join("")
      expect(content).toBe("echo: one two three")
      expect(fake.requests[0]!.handledMs).toBeGreaterThanOrEqual(45)
    }))

  it.live("runs as its own process and prints its URL as one JSON line", () =>
    Effect.gen(function*() {
      const { spawn } = yield* Effect.promise(() => import("node:child_process"))
      const child = spawn(process.execPath, ["--import", "tsx", "test/support/fake-llm-main.ts", "--latency-ms", "0"], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGTERM")))
      const line = yield* Effect.promise(() =>
        new Promise<string>((resolve, reject) => {
          let buffer = ""
          child.stdout!.on("data", (chunk: Buffer) => {
            buffer += chunk.toString()
            const end = buffer.indexOf("\n")
            if (end >= 0) resolve(buffer.slice(0, end))
          })
          child.once("exit", (code) => reject(new Error(`fake-llm-main exited with ${code}`)))
        })
      )
      const { url } = JSON.parse(line) as { url: string }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/)
      const response = yield* Effect.promise(() =>
        fetch(`${url}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "ping" }] })
        }).then((r) => r.json() as Promise<{ choices: Array<{ message: { content: string } }> }>)
      )
      expect(response.choices[0]!.message.content).toBe("echo: ping")
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      expect(yield* Effect.promise(() => exited)).toBe(0)
    }).pipe(Effect.scoped))
})
