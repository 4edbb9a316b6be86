/**
 * Traces, when `[telemetry] enabled`: every `Effect.withSpan` / `Effect.fn` span of the process is
 * exported over OTLP/HTTP. Off by default, and then nothing is loaded: Effect's own spans stay
 * in memory and go nowhere. The exporter lives in its own chunk (`OtlpTracing.ts`), imported only
 * when enabled, so a daemon without `[telemetry]` starts no slower and uses no more memory.
 *
 * One message is one trace across runners: the inbound span is current when the message is put
 * in its conversation's mailbox, @effect/cluster stores its trace and span ids with the message
 * (`cluster_messages.trace_id`, `span_id`), and the runner that owns the conversation runs the
 * turn as a child of it.
 */
import { Effect, Layer } from "effect"
import type { TelemetryConfig } from "../config/Config.ts"
import { type ConversationRef, keyOf } from "../domain/Conversation.ts"

/** Span attributes naming what a span is about; every span of a turn carries them. */
export const attributes = {
  conversation: "minibot.conversation_id",
  request: "minibot.request_id",
  message: "minibot.message_id",
  update: "telegram.update_id",
  chat: "minibot.chat_id",
  tool: "minibot.tool",
  job: "minibot.job_id"
} as const

/** The ids of one message (or one firing's turn), for `Effect.annotateSpans` around its work. */
export const messageAttributes = (
  message: { readonly conversation: ConversationRef; readonly requestId: string; readonly messageId: string }
) => ({
  [attributes.conversation]: keyOf(message.conversation),
  [attributes.request]: message.requestId,
  [attributes.message]: message.messageId
})

/** The tracer of `[telemetry]`, for the layers built after it; nothing when it is off. */
export const layer = (config: TelemetryConfig): Layer.Layer<never> =>
  config.enabled
    ? Layer.unwrapScoped(Effect.map(Effect.promise(() => import("./OtlpTracing.ts")), (otlp) => otlp.layer(config)))
    : Layer.empty
