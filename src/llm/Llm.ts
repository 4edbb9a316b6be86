/**
 * The language model port: one chat completion (with optional tools) per call.
 *
 * `Llm.openai` is the only place that touches the `openai` SDK. The SDK's own retries and
 * timeouts are switched off: this module owns them, so that a timeout or an interruption aborts
 * the HTTP request (through the abort signal) and every retry is logged and counted.
 */
import { Clock, Context, Data, Duration, Effect, Exit, Layer, Metric, Redacted, Ref, Schedule, Schema } from "effect"
import OpenAI from "openai"
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool
} from "openai/resources/chat/completions"
import { AppConfig, type LlmConfig } from "../config/Config.ts"
import type { ChatMessage, ToolCall, ToolSpec } from "../domain/ChatMessage.ts"
import * as Metrics from "../observability/Metrics.ts"

// ---------------------------------------------------------------------------------------------
// The port

export interface CompletionRequest {
  readonly messages: ReadonlyArray<ChatMessage>
  readonly tools?: ReadonlyArray<ToolSpec>
}

export interface TokenUsage {
  readonly promptTokens: number
  readonly completionTokens: number
  readonly totalTokens: number
}

export interface Completion {
  /** The assistant's text; `null` when it only called tools. */
  readonly content: string | null
  readonly toolCalls: ReadonlyArray<ToolCall>
  /** As the server said it (`stop`, `tool_calls`, `length`...); `"unknown"` when absent. */
  readonly finishReason: string
  readonly usage?: TokenUsage
  /** HTTP attempts this completion took (1 when the first one succeeded). */
  readonly attempts: number
}

export type LlmFailureReason =
  | "timeout"
  | "rate_limited"
  | "server_error"
  | "connection"
  | "auth"
  | "bad_request"
  | "invalid_response"

/**
 * The LLM failed for good (after the retries it deserved). `message` is built from the reason
 * and status only; `detail` and `cause` are scrubbed of the API key, and `cause` never holds
 * the SDK error itself (it carries request and response headers).
 */
export class LlmError extends Data.TaggedError("LlmError")<{
  readonly reason: LlmFailureReason
  readonly status?: number
  readonly attempts: number
  /** What the server or the network said, for the logs (not for the user). */
  readonly detail?: string
  readonly cause?: unknown
  readonly message: string
}> {}

/** The configuration cannot give a working LLM client (raised while building the layer). */
export class LlmSetupError extends Schema.TaggedError<LlmSetupError>()("LlmSetupError", {
  message: Schema.String
}) {}

export interface LlmService {
  readonly complete: (request: CompletionRequest) => Effect.Effect<Completion, LlmError>
}

export class Llm extends Context.Tag("minibot/Llm")<Llm, LlmService>() {
  /**
   * The OpenAI-compatible client, built from `[llm]` with production retry timings. A constant,
   * so that every use of it shares one memoized layer (one client).
   */
  static readonly openai: Layer.Layer<Llm, LlmSetupError, AppConfig> = Llm.openaiWith()

  /** `Llm.openai` with other retry timings (tests shorten the backoff). */
  static openaiWith(options: OpenAiOptions = {}): Layer.Layer<Llm, LlmSetupError, AppConfig> {
    return Layer.effect(
      Llm,
      Effect.flatMap(AppConfig, ({ config }) => makeOpenAi(config.llm, options))
    )
  }

  /** A layer answering every request with `f` (scripted LLMs in tests). */
  static fromFunction(
    f: (request: CompletionRequest) => Effect.Effect<Completion, LlmError>
  ): Layer.Layer<Llm> {
    return Layer.succeed(Llm, { complete: f })
  }
}

/** A one-attempt completion with text only (for scripted LLMs). */
export const textCompletion = (content: string): Completion => ({
  content,
  toolCalls: [],
  finishReason: "stop",
  attempts: 1
})

/** A one-attempt completion calling tools (for scripted LLMs). */
export const toolCallCompletion = (toolCalls: ReadonlyArray<ToolCall>, content: string | null = null): Completion => ({
  content,
  toolCalls,
  finishReason: "tool_calls",
  attempts: 1
})

/** The short text the user sees when the LLM failed for good. Never a stack, never a secret. */
export const userMessage = (error: LlmError): string => {
  const tries = `${error.attempts} ${error.attempts === 1 ? "attempt" : "attempts"}`
  switch (error.reason) {
    case "timeout":
      return `Sorry, the language model did not answer in time (${tries}). Please try again in a moment.`
    case "rate_limited":
      return `Sorry, the language model is rate-limiting minibot right now (${tries}). Please try again in a minute.`
    case "server_error":
      return `Sorry, the language model service is failing right now (${tries}). Please try again later.`
    case "connection":
      return `Sorry, minibot could not reach the language model (${tries}). Please try again later.`
    case "auth":
      return "Sorry, the language model rejected minibot's credentials: the owner should check llm.api_key."
    case "bad_request":
      return `Sorry, the language model refused this request${
        error.status ? ` (HTTP ${error.status})` : ""
      }. The owner can find details in the logs.`
    case "invalid_response":
      return "Sorry, the language model sent an answer minibot could not read. Please try again."
  }
}

// ---------------------------------------------------------------------------------------------
// Retry timings

/** First retry delay; each later one doubles (with jitter). */
export const defaultRetryBase: Duration.DurationInput = "500 millis"
export const retryFactor = 2
/** No backoff delay grows past this. */
export const defaultRetryCap: Duration.DurationInput = "10 seconds"
/** A server's `retry-after` is honoured up to this; a longer wait is not worth holding a turn. */
export const defaultRetryAfterCap: Duration.DurationInput = "30 seconds"
/**
 * The SDK's own timeout, only a backstop: ours (`request_timeout_seconds`) fires first and aborts
 * the request. Kept below 2^31 ms, where Node's timers overflow and fire at once.
 */
const sdkBackstopTimeout = Duration.hours(24)

export interface OpenAiOptions {
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

const placeholderApiKey = "not-needed"

const isOpenAiHost = (baseUrl: string): boolean => {
  try {
    const host = new URL(baseUrl).hostname
    return host === "api.openai.com" || host.endsWith(".openai.com")
  } catch {
    return false
  }
}

/** Builds the service from the `[llm]` section; fails when the hosted OpenAI API has no key. */
export const makeOpenAi = (llm: LlmConfig, options: OpenAiOptions = {}): Effect.Effect<LlmService, LlmSetupError> =>
  Effect.gen(function*() {
    const hostedOpenAi = isOpenAiHost(llm.base_url)
    if (llm.api_key === undefined && hostedOpenAi) {
      return yield* new LlmSetupError({
        message: `llm.api_key is not set but llm.base_url is ${llm.base_url}: set llm.api_key in the config ` +
          "(or the OPENAI_API_KEY environment variable), or point llm.base_url at a local server"
      })
    }
    const apiKey = llm.api_key === undefined ? placeholderApiKey : Redacted.value(llm.api_key)
    const client = yield* Effect.try({
      try: () =>
        new OpenAI({
          baseURL: llm.base_url,
          apiKey,
          maxRetries: 0,
          timeout: Duration.toMillis(sdkBackstopTimeout),
          // The SDK would otherwise write warnings to the console, past our logger and redactor.
          logLevel: "off"
        }),
      catch: (error) =>
        new LlmSetupError({
          message: `cannot build the LLM client for ${llm.base_url}: ${scrub(errorText(error), apiKey)}`
        })
    })

    const requestTimeout = Duration.seconds(llm.request_timeout_seconds)
    const policy = retryPolicy({
      retries: llm.retry_attempts,
      base: options.retryBase ?? defaultRetryBase,
      cap: options.retryCap ?? defaultRetryCap,
      retryAfterCap: options.retryAfterCap ?? defaultRetryAfterCap
    })

    const sendOnce = (body: ChatCompletionCreateParamsNonStreaming): Effect.Effect<ChatCompletion, AttemptFailure> =>
      Effect.gen(function*() {
        yield* Metric.increment(Metrics.llmRequests)
        const start = yield* Clock.currentTimeMillis
        return yield* Effect.tryPromise({
          try: (signal) => client.chat.completions.create(body, { signal, maxRetries: 0 }),
          catch: (error) => classify(error, apiKey)
        }).pipe(
          Effect.timeoutFail({
            duration: requestTimeout,
            onTimeout: () =>
              new AttemptFailure({ reason: "timeout", detail: `no answer within ${Duration.format(requestTimeout)}` })
          }),
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

    const complete = Effect.fn("Llm.complete")(function*(request: CompletionRequest) {
      const body = toRequestBody(llm, hostedOpenAi, request)
      const attempts = yield* Ref.make(0)
      const response = yield* Ref.update(attempts, (n) => n + 1).pipe(
        Effect.zipRight(sendOnce(body)),
        Effect.retry(policy),
        Effect.catchAll((failure) =>
          Ref.get(attempts).pipe(
            Effect.flatMap((n) => {
              const error = toLlmError(failure, n)
              return Metric.increment(Metric.tagged(Metrics.llmFailures, "reason", error.reason)).pipe(
                Effect.zipRight(Effect.fail(error))
              )
            })
          )
        )
      )
      const count = yield* Ref.get(attempts)
      return yield* fromResponse(response, count).pipe(
        Effect.tapError((error) => Metric.increment(Metric.tagged(Metrics.llmFailures, "reason", error.reason)))
      )
    }, Effect.annotateLogs({ component: "llm" }))

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
// Mapping to and from the OpenAI wire format

const toMessageParam = (message: ChatMessage): ChatCompletionMessageParam => {
  switch (message._tag) {
    case "system":
      return { role: "system", content: message.content }
    case "user":
      return { role: "user", content: message.content }
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
    message: `LLM request failed: invalid_response after ${attempts} ${attempts === 1 ? "attempt" : "attempts"}`
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
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new AttemptFailure({ reason: "timeout", detail: "the SDK timed out", cause: summarize(error, apiKey) })
  }
  if (error instanceof OpenAI.APIConnectionError || error instanceof OpenAI.APIUserAbortError) {
    const inner = (error as { cause?: unknown }).cause
    const outer = errorText(error).replace(/\.$/, "")
    const detail = scrub(inner === undefined ? outer : `${outer}: ${causeText(inner)}`, apiKey)
    return new AttemptFailure({ reason: "connection", detail, cause: summarize(error, apiKey) })
  }
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
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
  ...(error instanceof OpenAI.APIError
    ? {
      status: error.status,
      code: error.code ?? undefined,
      type: error.type,
      requestId: error.requestID ?? undefined
    }
    : {})
})

const toLlmError = (failure: AttemptFailure, attempts: number): LlmError => {
  const tries = `${attempts} ${attempts === 1 ? "attempt" : "attempts"}`
  const status = failure.status === undefined ? "" : ` (HTTP ${failure.status})`
  return new LlmError({
    reason: failure.reason,
    ...(failure.status === undefined ? {} : { status: failure.status }),
    attempts,
    ...(failure.detail === undefined ? {} : { detail: failure.detail }),
    ...(failure.cause === undefined ? {} : { cause: failure.cause }),
    message: `LLM request failed: ${failure.reason}${status} after ${tries}`
  })
}
