/**
 * The language model port: one chat completion (with optional tools) per call, streamed when the
 * caller watches its text grow (`onText`). Its layers live
 * on the tag: `Llm.openai` (the OpenAI-compatible client of `OpenAiLlm.ts`, the only code that
 * touches the `openai` SDK) and `Llm.fromFunction` (scripted answers).
 */
import { Context, Effect, Layer } from "effect"
import { LlmSettings } from "../config/Config.ts"
import type { ChatMessage, ToolCall, ToolSpec } from "../domain/ChatMessage.ts"
import type { LlmError, LlmSetupError } from "./LlmError.ts"
import * as OpenAiLlm from "./OpenAiLlm.ts"

export { LlmError, type LlmFailureReason, LlmSetupError, userMessage } from "./LlmError.ts"

export interface CompletionRequest {
  readonly messages: ReadonlyArray<ChatMessage>
  readonly tools?: ReadonlyArray<ToolSpec>
  /**
   * When set, the answer is streamed and this is called with its text so far each time it grows
   * (a retried attempt starts again from its own first token). Without it, one plain request.
   */
  readonly onText?: (textSoFar: string) => Effect.Effect<void>
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

export interface LlmService {
  readonly complete: (request: CompletionRequest) => Effect.Effect<Completion, LlmError>
}

export class Llm extends Context.Tag("minibot/Llm")<Llm, LlmService>() {
  /**
   * The OpenAI-compatible client, built from `[llm]` with production retry timings. A constant,
   * so that every use of it shares one memoized layer (one client).
   */
  static readonly openai: Layer.Layer<Llm, LlmSetupError, LlmSettings> = Llm.openaiWith()

  /** `Llm.openai` with other retry timings (tests shorten the backoff). */
  static openaiWith(options: OpenAiLlm.Options = {}): Layer.Layer<Llm, LlmSetupError, LlmSettings> {
    return Layer.effect(Llm, Effect.flatMap(LlmSettings, (llm) => OpenAiLlm.make(llm, options)))
  }

  /** A layer answering every request with `f` (scripted LLMs in tests and benchmarks). */
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
