/**
 * The OpenAI-compatible implementation of the `Llm` port: the only module that touches the
 * `openai` SDK. The SDK's own retries and timeouts are switched off: this module owns them, so
 * that a timeout or an interruption aborts the HTTP request (through the abort signal) and every
 * retry is logged and counted. A final failure is logged once, naming the config key to check.
 */
import { Clock, Data, Duration, Effect, Exit, Metric, Redacted, Ref, Schedule } from "effect"
import type OpenAI from "openai"
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai/core/error"
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool
} from "openai/resources/chat/completions"
import type { LlmConfig } from "../config/Config.ts"
import { type ChatMessage, imagesOf, type ToolCall, type ToolSpec } from "../domain/ChatMessage.ts"
import * as Metrics from "../observability/Metrics.ts"
import type { Completion, CompletionRequest, LlmService } from "./Llm.ts"
import { LlmError, type LlmFailureReason, LlmSetupError } from "./LlmError.ts"

// ---------------------------------------------------------------------------------------------
// Retry timings

/** First retry delay; each later one doubles (with jitter). */
const defaultRetryBase: Duration.DurationInput = "500 millis"
const retryFactor = 2
/** No backoff delay grows past this. */
const defaultRetryCap: Duration.DurationInput = "10 seconds"
/** A server's `retry-after` is honoured up to this; a longer wait is not worth holding a turn. */
const defaultRetryAfterCap: Duration.DurationInput = "30 seconds"
/**
 * The SDK's own timeout, only a backstop: ours (`request_timeout_seconds`) fires first and aborts
 * the request. Kept below 2^31 ms, where Node's timers overflow and fire at once.
 */
const sdkBackstopTimeout = Duration.hours(24)

export interface Options {
  readonly retryBase?: Duration.DurationInput
  readonly retryCap?: Duration.DurationInput
  readonly retryAfterCap?: Duration.DurationInput
}

// ---------------------------------------------------------------------------------------------
// The OpenAI-compatible implementation

/** One failed HTTP attempt, before the retry policy decides. */
class AttemptFailure extends Data.TaggedError("LlmAttemptFailure")<{
  readonly reason: LlmFailureReason
  readonly status?: number
  readonly retryAfter?: Duration.Duration
  readonly detail?: string
  readonly cause?: unknown
}> {}

const retryableReasons: ReadonlySet<LlmFailureReason> = new Set([
  "timeout",
  "rate_limited",
  "server_error",
  "connection"
])
const isRetryable = (failure: AttemptFailure) => retryableReasons.has(failure.reason)

// The SDK refuses to start without a key; a local server without one gets no Authorization
// header at all (see `withoutKey` below), so this never leaves the process.
const placeholderApiKey = "not-needed"
/** Headers that drop the SDK's `Authorization: Bearer <placeholder>` when no key is configured. */
const withoutKey = { Authorization: null }

const tries = (attempts: number) => `${attempts} ${attempts === 1 ? "attempt" : "attempts"}`

const isOpenAiHost = (baseUrl: string): boolean => {
  try {
    const host = new URL(baseUrl).hostname
    return host === "api.openai.com" || host.endsWith(".openai.com")
  } catch {
    return false
  }
}

/** Builds the service from the `[llm]` section; fails when the hosted OpenAI API has no key. */
export const make = (llm: LlmConfig, options: Options = {}): Effect.Effect<LlmService, LlmSetupError> =>
  Effect.gen(function*() {
    const hostedOpenAi = isOpenAiHost(llm.base_url)
    if (llm.api_key === undefined && hostedOpenAi) {
      return yield* new LlmSetupError({
        message: `llm.api_key is not set but llm.base_url is ${llm.base_url}: set llm.api_key in the config ` +
          "(or the OPENAI_API_KEY environment variable), or point llm.base_url at a local server"
      })
    }
    const apiKey = llm.api_key === undefined ? placeholderApiKey : Redacted.value(llm.api_key)
    // The SDK (a megabyte of code, most of it for APIs never called here) is loaded and the client
    // built on the first request, not at start: start-up and an idle daemon's memory stay small.
    // It requests through node:http rather than the global fetch (NodeHttpFetch.ts says why).
    const client = yield* Effect.cached(
      Effect.tryPromise({
        try: () => Promise.all([import("openai"), import("./NodeHttpFetch.ts")]),
        catch: (error) =>
          new AttemptFailure({ reason: "invalid_response", detail: `cannot load the openai SDK: ${errorText(error)}` })
      }).pipe(Effect.flatMap(([{ OpenAI }, NodeHttpFetch]) =>
        Effect.try({
          try: () =>
            new OpenAI({
              baseURL: llm.base_url,
              apiKey,
              fetch: NodeHttpFetch.make(),
              ...(llm.api_key === undefined ? { defaultHeaders: withoutKey } : {}),
              maxRetries: 0,
              timeout: Duration.toMillis(sdkBackstopTimeout),
              // The SDK would otherwise write warnings to the console, past our logger and redactor.
              logLevel: "off"
            }),
          catch: (error) =>
            new AttemptFailure({
              reason: "bad_request",
              detail: `cannot build the LLM client for ${llm.base_url}: ${scrub(errorText(error), apiKey)}`
            })
        })
      ))
    )

    const requestTimeout = Duration.seconds(llm.request_timeout_seconds)
    const policy = retryPolicy({
      retries: llm.retry_attempts,
      base: options.retryBase ?? defaultRetryBase,
      cap: options.retryCap ?? defaultRetryCap,
      retryAfterCap: options.retryAfterCap ?? defaultRetryAfterCap
    })

    const timedOut = () =>
      new AttemptFailure({ reason: "timeout", detail: `no answer within ${Duration.format(requestTimeout)}` })
    /** A failure of a request whose `deadline` passed is the timeout, whatever the SDK made of the abort. */
    const failure = (deadline: AbortSignal) => (error: unknown) =>
      deadline.aborted ? timedOut() : classify(error, apiKey)

    /** One plain request: the whole completion in one JSON answer. */
    const requestWhole = (
      sdk: OpenAI,
      body: ChatCompletionCreateParamsNonStreaming,
      deadline: AbortSignal
    ): Effect.Effect<unknown, AttemptFailure> =>
      Effect.tryPromise({
        try: (signal) =>
          sdk.chat.completions.create(body, { signal: AbortSignal.any([signal, deadline]), maxRetries: 0 }),
        catch: failure(deadline)
      })

    /**
     * One streamed request: SSE chunks assembled into the shape of a whole completion (content,
     * tool calls by index, finish reason, usage), `onText` told each time the text grows. The
     * request's own abort controller is aborted when this ends in any way, so an interruption
     * (`/stop`, a timeout, shutdown) closes the connection at once, even while the body streams.
     */
    const requestStreamed = (
      sdk: OpenAI,
      body: ChatCompletionCreateParamsNonStreaming,
      deadline: AbortSignal,
      onText: (textSoFar: string) => Effect.Effect<void>
    ): Effect.Effect<unknown, AttemptFailure> =>
      Effect.acquireUseRelease(
        Effect.sync(() => new AbortController()),
        (controller) =>
          Effect.gen(function*() {
            const stream = yield* Effect.tryPromise({
              try: () =>
                sdk.chat.completions.create(
                  { ...body, stream: true, stream_options: { include_usage: true } },
                  { signal: AbortSignal.any([controller.signal, deadline]), maxRetries: 0 }
                ),
              catch: failure(deadline)
            })
            const assembly = new StreamAssembly()
            // Chunk by chunk in this fiber: a Stream would run each chunk through its channel machinery.
            const chunks = stream[Symbol.asyncIterator]()
            const next = Effect.tryPromise({ try: () => chunks.next(), catch: failure(deadline) })
            for (;;) {
              const step = yield* next
              if (step.done === true) return assembly.completion()
              if (assembly.add(step.value)) yield* onText(assembly.content)
            }
          }),
        (controller) => Effect.sync(() => controller.abort())
      )

    /**
     * One attempt, given up after `request_timeout_seconds`: a timer aborts the request, which
     * then fails as a timeout (cheaper than `Effect.timeout`, which races the request against a
     * sleep in two more fibers on every request).
     */
    const sendOnce = (
      body: ChatCompletionCreateParamsNonStreaming,
      onText: ((textSoFar: string) => Effect.Effect<void>) | undefined
    ): Effect.Effect<unknown, AttemptFailure> =>
      Effect.gen(function*() {
        yield* Metric.increment(Metrics.llmRequests)
        const sdk = yield* client
        const start = yield* Clock.currentTimeMillis
        return yield* Effect.acquireUseRelease(
          Effect.sync(() => {
            const deadline = new AbortController()
            const timer = setTimeout(() => deadline.abort(), Duration.toMillis(requestTimeout))
            return { deadline, timer }
          }),
          ({ deadline }) =>
            onText === undefined
              ? requestWhole(sdk, body, deadline.signal)
              : requestStreamed(sdk, body, deadline.signal, onText),
          ({ timer }) => Effect.sync(() => clearTimeout(timer))
        ).pipe(
          // An attempt cut short by the caller (shutdown, a cancelled turn) says nothing about latency.
          Effect.onExit((exit) =>
            Exit.isInterrupted(exit)
              ? Effect.void
              : Effect.flatMap(
                Clock.currentTimeMillis,
                (end) => Metric.update(Metrics.llmLatency, (end - start) / 1000)
              )
          )
        )
      })

    const complete = Effect.fn("Llm.complete")(
      function*(request: CompletionRequest) {
        const body = toRequestBody(llm, hostedOpenAi, request)
        const attempts = yield* Ref.make(0)
        const response = yield* Ref.update(attempts, (n) => n + 1).pipe(
          Effect.zipRight(sendOnce(body, request.onText)),
          Effect.retry(policy),
          Effect.catchAll((failure) => Effect.flatMap(Ref.get(attempts), (n) => Effect.fail(toLlmError(failure, n))))
        )
        return yield* fromResponse(response, yield* Ref.get(attempts))
      },
      Effect.tapError((error) => reportFailure(error, llm)),
      Effect.annotateLogs({ component: "llm" })
    )

    return { complete } satisfies LlmService
  })

/**
 * Exponential backoff with jitter, capped, for retryable failures only, at most `retries` times.
 * A server's `retry-after` wins when it asks for a longer wait. Each retry is logged.
 */
const retryPolicy = (options: {
  readonly retries: number
  readonly base: Duration.DurationInput
  readonly cap: Duration.DurationInput
  readonly retryAfterCap: Duration.DurationInput
}) => {
  const backoff = Schedule.exponential(options.base, retryFactor).pipe(
    Schedule.jittered,
    Schedule.modifyDelay((_, delay) => Duration.min(delay, options.cap))
  )
  return Schedule.identity<AttemptFailure>().pipe(
    Schedule.whileInput(isRetryable),
    Schedule.intersect(Schedule.recurs(options.retries)),
    Schedule.intersect(backoff),
    Schedule.modifyDelayEffect(([[failure, retriesSoFar]], backoffDelay) => {
      const delay = failure.retryAfter === undefined
        ? backoffDelay
        : Duration.max(backoffDelay, Duration.min(failure.retryAfter, options.retryAfterCap))
      return Effect.logWarning("LLM request failed; retrying").pipe(
        Effect.annotateLogs({
          attempt: retriesSoFar + 1,
          max_attempts: options.retries + 1,
          reason: failure.reason,
          ...(failure.status === undefined ? {} : { status: failure.status }),
          ...(failure.detail === undefined ? {} : { detail: failure.detail }),
          retry_in_ms: Math.round(Duration.toMillis(delay))
        }),
        Effect.as(delay)
      )
    })
  )
}

// ---------------------------------------------------------------------------------------------
// Final failures

/**
 * The `[llm]` key an owner should look at for a final failure, when the configuration is the
 * likely culprit. A 404 naming a model means `llm.model`; any other 404 means the URL is wrong.
 */
const keyToCheck = (error: LlmError): string | undefined => {
  switch (error.reason) {
    case "auth":
      return "llm.api_key"
    case "connection":
    case "invalid_response":
      return "llm.base_url"
    case "timeout":
      return "llm.request_timeout_seconds"
    case "bad_request":
      return error.status !== 404 ? undefined : /model/i.test(error.detail ?? "") ? "llm.model" : "llm.base_url"
    case "rate_limited":
    case "server_error":
      return undefined
  }
}

/** Failures only the owner can fix are errors; the rest may pass on their own. */
const ownerMustAct = (key: string | undefined) => key === "llm.api_key" || key === "llm.model" || key === "llm.base_url"

/** Counts a final failure and logs it once, with what the server said and the key to check. */
const reportFailure = (error: LlmError, llm: LlmConfig) => {
  const key = keyToCheck(error)
  const log = ownerMustAct(key) ? Effect.logError : Effect.logWarning
  return Metric.increment(Metric.tagged(Metrics.llmFailures, "reason", error.reason)).pipe(
    Effect.zipRight(
      log(`LLM request failed after ${tries(error.attempts)}${key === undefined ? "" : `; check ${key}`}`).pipe(
        Effect.annotateLogs({
          reason: error.reason,
          ...(error.status === undefined ? {} : { status: error.status }),
          attempts: error.attempts,
          ...(error.detail === undefined ? {} : { detail: error.detail }),
          model: llm.model,
          ...(key === undefined ? {} : { config_key: key })
        })
      )
    )
  )
}

// ---------------------------------------------------------------------------------------------
// Mapping to and from the OpenAI wire format

const toMessageParam = (message: ChatMessage): ChatCompletionMessageParam => {
  switch (message._tag) {
    case "system":
      return { role: "system", content: message.content }
    case "user": {
      const images = imagesOf(message)
      return images.length === 0
        ? { role: "user", content: message.content }
        : {
          role: "user",
          content: [
            { type: "text", text: message.content },
            ...images.map((url) => ({ type: "image_url" as const, image_url: { url } }))
          ]
        }
    }
    case "assistant":
      return message.tool_calls.length === 0
        // A null content is only valid beside tool calls.
        ? { role: "assistant", content: message.content ?? "" }
        : {
          role: "assistant",
          content: message.content,
          tool_calls: message.tool_calls.map((call) => ({
            id: call.id,
            type: "function" as const,
            function: { name: call.function.name, arguments: call.function.arguments }
          }))
        }
    case "tool":
      return { role: "tool", tool_call_id: message.tool_call_id, content: message.content }
  }
}

const toToolParam = (tool: ToolSpec): ChatCompletionTool => ({
  type: "function",
  function: { name: tool.name, description: tool.description, parameters: tool.parameters }
})

export const toRequestBody = (
  llm: LlmConfig,
  hostedOpenAi: boolean,
  request: CompletionRequest
): ChatCompletionCreateParamsNonStreaming => ({
  model: llm.model,
  messages: request.messages.map(toMessageParam),
  temperature: llm.temperature,
  // OpenAI's newer models refuse `max_tokens`; most compatible servers only know `max_tokens`.
  ...(hostedOpenAi ? { max_completion_tokens: llm.max_new_tokens } : { max_tokens: llm.max_new_tokens }),
  ...(request.tools !== undefined && request.tools.length > 0 ? { tools: request.tools.map(toToolParam) } : {})
})

const invalidResponse = (detail: string, attempts: number) =>
  new LlmError({
    reason: "invalid_response",
    attempts,
    detail,
    message: `LLM request failed: invalid_response after ${tries(attempts)}`
  })

const fromResponse = (response: unknown, attempts: number): Effect.Effect<Completion, LlmError> => {
  const choice = (response as Partial<ChatCompletion> | null)?.choices?.[0]
  const message = choice?.message
  if (choice === undefined || message === undefined || message === null) {
    return Effect.fail(invalidResponse("the response has no choices[0].message", attempts))
  }
  const toolCalls: Array<ToolCall> = []
  for (const [index, call] of (message.tool_calls ?? []).entries()) {
    // Some local servers send a non-string arguments object or leave the id out.
    const raw = call as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } }
    if (raw.type !== undefined && raw.type !== "function") continue
    if (typeof raw.function?.name !== "string") {
      return Effect.fail(invalidResponse(`tool_calls[${index}] has no function name`, attempts))
    }
    const args = raw.function.arguments
    toolCalls.push({
      id: typeof raw.id === "string" && raw.id.length > 0 ? raw.id : `call_${index}_${Date.now().toString(36)}`,
      type: "function",
      function: {
        name: raw.function.name,
        arguments: typeof args === "string" ? args : args === undefined || args === null ? "" : JSON.stringify(args)
      }
    })
  }
  const content = typeof message.content === "string" ? message.content : null
  if (content === null && toolCalls.length === 0) {
    return Effect.fail(invalidResponse("the message has neither content nor tool calls", attempts))
  }
  const usage = (response as ChatCompletion).usage
  return Effect.succeed({
    content,
    toolCalls,
    finishReason: typeof choice.finish_reason === "string" ? choice.finish_reason : "unknown",
    ...(usage
      ? {
        usage: {
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          totalTokens: usage.total_tokens
        }
      }
      : {}),
    attempts
  })
}

/**
 * A streamed completion put back together: content deltas appended, tool-call deltas merged by
 * their `index` (the id and name come first, the arguments in pieces), the last finish reason
 * and the usage chunk kept. `completion()` has the shape `fromResponse` reads.
 */
class StreamAssembly {
  content = ""
  private readonly calls = new Map<number, { id?: string; type?: string; name?: string; arguments: string }>()
  private finishReason: string | null = null
  private usage: ChatCompletion["usage"] = undefined

  /** Takes one chunk; true when the text grew. */
  add(chunk: ChatCompletionChunk): boolean {
    if (chunk.usage) this.usage = chunk.usage
    const choice = chunk.choices?.[0]
    if (choice === undefined) return false
    if (typeof choice.finish_reason === "string") this.finishReason = choice.finish_reason
    const delta = choice.delta
    for (const part of delta?.tool_calls ?? []) {
      const call = this.calls.get(part.index) ?? { arguments: "" }
      if (typeof part.id === "string" && part.id !== "") call.id = part.id
      if (typeof part.type === "string") call.type = part.type
      if (typeof part.function?.name === "string" && part.function.name !== "") call.name = part.function.name
      if (typeof part.function?.arguments === "string") call.arguments += part.function.arguments
      this.calls.set(part.index, call)
    }
    if (typeof delta?.content !== "string" || delta.content === "") return false
    this.content += delta.content
    return true
  }

  completion() {
    const toolCalls = [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => ({
      ...(call.id === undefined ? {} : { id: call.id }),
      type: call.type ?? "function",
      function: { name: call.name, arguments: call.arguments }
    }))
    return {
      choices: [{
        message: {
          // As a whole answer would have it: no text beside tool calls is null.
          content: this.content === "" && toolCalls.length > 0 ? null : this.content,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {})
        },
        finish_reason: this.finishReason
      }],
      ...(this.usage ? { usage: this.usage } : {})
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))

const secretShapes = /\bsk-[A-Za-z0-9_*.-]{8,}/g

/** Removes the API key (and anything shaped like an OpenAI key) from a text we may log. */
const scrub = (text: string, apiKey: string): string => {
  const withoutKey = apiKey.length >= 4 && apiKey !== placeholderApiKey ? text.split(apiKey).join("<redacted>") : text
  return withoutKey.replace(secretShapes, "<redacted>").slice(0, 500)
}

/** Parses `retry-after-ms`, then `retry-after` (seconds, possibly fractional, or an HTTP date). */
export const parseRetryAfter = (
  headers: { get(name: string): string | null } | undefined,
  now: number = Date.now()
): Duration.Duration | undefined => {
  const ms = Number.parseFloat(headers?.get("retry-after-ms") ?? "")
  if (Number.isFinite(ms) && ms >= 0) return Duration.millis(ms)
  const value = headers?.get("retry-after")?.trim()
  if (value === undefined || value === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return Duration.millis(seconds * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

const reasonForStatus = (status: number): LlmFailureReason =>
  status === 429
    ? "rate_limited"
    : status === 408
    ? "timeout"
    : status >= 500
    ? "server_error"
    : status === 401 || status === 403
    ? "auth"
    : "bad_request"

/** Sorts an SDK error into a reason; keeps only a scrubbed summary of it. */
const classify = (error: unknown, apiKey: string): AttemptFailure => {
  if (error instanceof APIConnectionTimeoutError) {
    return new AttemptFailure({ reason: "timeout", detail: "the SDK timed out", cause: summarize(error, apiKey) })
  }
  if (error instanceof APIConnectionError || error instanceof APIUserAbortError) {
    const inner = (error as { cause?: unknown }).cause
    const outer = errorText(error).replace(/\.$/, "")
    const detail = scrub(inner === undefined ? outer : `${outer}: ${causeText(inner)}`, apiKey)
    return new AttemptFailure({ reason: "connection", detail, cause: summarize(error, apiKey) })
  }
  if (error instanceof APIError && typeof error.status === "number") {
    const retryAfter = parseRetryAfter(error.headers)
    return new AttemptFailure({
      reason: reasonForStatus(error.status),
      status: error.status,
      ...(retryAfter === undefined ? {} : { retryAfter }),
      detail: scrub(errorText(error), apiKey),
      cause: summarize(error, apiKey)
    })
  }
  // Anything else comes from reading the response (a proxy's HTML page, broken JSON...).
  return new AttemptFailure({
    reason: "invalid_response",
    detail: scrub(errorText(error), apiKey),
    cause: summarize(error, apiKey)
  })
}

/** undici hides the useful part ("ECONNREFUSED") in `cause`. */
const causeText = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    const inner = (cause as { cause?: unknown }).cause
    const own = typeof code === "string" ? `${code} ${cause.message}` : cause.message
    return inner === undefined ? own : `${own}: ${causeText(inner)}`
  }
  return String(cause)
}

const summarize = (error: unknown, apiKey: string) => ({
  name: error instanceof Error ? error.name : typeof error,
  message: scrub(errorText(error), apiKey),
  ...(error instanceof APIError
    ? {
      status: error.status,
      code: error.code ?? undefined,
      type: error.type,
      requestId: error.requestID ?? undefined
    }
    : {})
})

const toLlmError = (failure: AttemptFailure, attempts: number): LlmError => {
  const status = failure.status === undefined ? "" : ` (HTTP ${failure.status})`
  return new LlmError({
    reason: failure.reason,
    ...(failure.status === undefined ? {} : { status: failure.status }),
    attempts,
    ...(failure.detail === undefined ? {} : { detail: failure.detail }),
    ...(failure.cause === undefined ? {} : { cause: failure.cause }),
    message: `LLM request failed: ${failure.reason}${status} after ${tries(attempts)}`
  })
}
