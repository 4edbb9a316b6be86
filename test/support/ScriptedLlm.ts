/**
 * A scripted `Llm` for fast tests: answers come from a list, in order, with no HTTP, no retries
 * and no clock; every request is recorded. A request past the end of the script is a defect that
 * shows the request, so a test that calls the model more often than it meant to fails loudly.
 * Adapter tests of the OpenAI client use the loopback `FakeLlm` instead.
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { ToolCall } from "../../src/domain/ChatMessage.ts"
import {
  type Completion,
  type CompletionRequest,
  Llm,
  LlmError,
  type LlmFailureReason,
  textCompletion,
  toolCallCompletion
} from "../../src/llm/Llm.ts"

/** One scripted answer: a completion, or the error the port gives once its retries are spent. */
export type Answer = Effect.Effect<Completion, LlmError>

export const text = (content: string): Answer => Effect.succeed(textCompletion(content))

export interface ScriptedCall {
  readonly name: string
  /** An object (sent as JSON) or raw text, as a model may produce invalid JSON. */
  readonly arguments?: Record<string, unknown> | string
  /** Defaults to `call_<index>`. */
  readonly id?: string
}

/** The model calls these tools (and says `content`, if given). */
export const toolCalls = (calls: ReadonlyArray<ScriptedCall>, content: string | null = null): Answer =>
  Effect.succeed(toolCallCompletion(
    calls.map((call, index): ToolCall => ({
      id: call.id ?? `call_${index}`,
      type: "function",
      function: {
        name: call.name,
        arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {})
      }
    })),
    content
  ))

/** The model failed for good with `reason`. */
export const failure = (
  reason: LlmFailureReason,
  options: { readonly status?: number; readonly attempts?: number } = {}
): Answer => {
  const attempts = options.attempts ?? 1
  return Effect.fail(
    new LlmError({
      reason,
      attempts,
      ...(options.status === undefined ? {} : { status: options.status }),
      message: `LLM request failed: ${reason} after ${attempts} ${attempts === 1 ? "attempt" : "attempts"}`
    })
  )
}

/** The test's handle on the scripted model. */
export class ScriptedLlm extends Context.Tag("test/ScriptedLlm")<ScriptedLlm, {
  /** Every request received so far, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<CompletionRequest>>
  /** Appends answers to the script. */
  readonly push: (...answers: ReadonlyArray<Answer>) => Effect.Effect<void>
}>() {
  /** An `Llm` answering with `answers` in order, and its `ScriptedLlm` handle. */
  static layer(...answers: ReadonlyArray<Answer>): Layer.Layer<Llm | ScriptedLlm> {
    return Layer.effectContext(Effect.gen(function*() {
      const script = yield* Ref.make<ReadonlyArray<Answer>>(answers)
      const requests = yield* Ref.make<ReadonlyArray<CompletionRequest>>([])
      const complete = (request: CompletionRequest): Answer =>
        Ref.updateAndGet(requests, (seen) => [...seen, request]).pipe(
          Effect.zipRight(Ref.modify(script, ([next, ...rest]) => [next, rest] as const)),
          Effect.flatMap((next) =>
            next ?? Effect.dieMessage(`ScriptedLlm: no answer left for the request ${JSON.stringify(request)}`)
          )
        )
      return Context.make(Llm, { complete }).pipe(
        Context.add(ScriptedLlm, {
          requests: Ref.get(requests),
          push: (...more) => Ref.update(script, (left) => [...left, ...more])
        })
      )
    }))
  }
}
