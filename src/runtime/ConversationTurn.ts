/**
 * One turn of a conversation: the inbound message in, the reply out, exactly once. Runs inside the
 * conversation's actor, so turns of one chat never overlap. Never fails: whatever breaks, the
 * person gets a short message and the actor moves on.
 */
import { Cause, Clock, DateTime, Duration, Effect, Exit, Fiber, FiberMap, Metric, Option, Schedule } from "effect"
import { Bus, BusEvent } from "../bus/Bus.ts"
import { Outbound, type OutboundMessage } from "../channels/Outbound.ts"
import { AppConfig } from "../config/Config.ts"
import * as Chat from "../domain/ChatMessage.ts"
import { type ConversationKey, keyOf } from "../domain/Conversation.ts"
import type { InboundMessage } from "../domain/Inbound.ts"
import { Llm, userMessage } from "../llm/Llm.ts"
import { HistoryStore } from "../memory/HistoryStore.ts"
import * as Metrics from "../observability/Metrics.ts"
import type { ToolContext } from "../tools/Tool.ts"
import { ToolRegistry } from "../tools/ToolRegistry.ts"
import { TurnLedger } from "./TurnLedger.ts"

const typingRefresh = Schedule.spaced(Duration.seconds(4))

export const unexpectedErrorText = "Sorry, something went wrong on my side while answering. Please try again."
export const stoppedText = "Stopped."
export const emptyAnswerText = "(the model returned an empty answer)"
export const repeatedToolText =
  "I stopped because I kept repeating the same step without getting anywhere. Could you rephrase or narrow the request?"
export const toolLimitText = (limit: number) =>
  `I stopped after ${limit} tool steps without finishing. Could you split the request into smaller parts?`

/** A due job's prompt as the model sees it: an instruction to carry out now, not a request to schedule. */
export const scheduledInstruction = (message: InboundMessage): string => {
  const info = message.scheduled
  if (info === undefined) return message.text
  const zone = DateTime.zoneMakeNamed(info.timezone)
  const due = Option.isSome(zone)
    ? DateTime.formatIsoOffset(DateTime.unsafeMakeZoned(info.dueAt, { timeZone: zone.value }))
    : new Date(info.dueAt).toISOString()
  const late = info.lateMs >= 60_000
    ? `, ${Math.round(info.lateMs / 60_000)} minutes late`
    : info.lateMs >= 5_000
    ? `, ${Math.round(info.lateMs / 1000)} seconds late`
    : ""
  return `Scheduled instruction (job ${info.jobId}, due ${due}${late}): ${message.text}\n` +
    "Do it now; do not schedule it again."
}

/**
 * How a turn ended, for whoever submitted it (the scheduler retries `Failed` scheduled turns).
 * A scheduled turn that failed is not told to the person: the scheduler tells them once, after
 * its last retry.
 */
export type TurnResult =
  | { readonly _tag: "Delivered"; readonly text: string }
  /** `notify = false`: answered and remembered, nothing sent. */
  | { readonly _tag: "Silent"; readonly text: string }
  /** Handled before (a redelivery). */
  | { readonly _tag: "Duplicate" }
  | { readonly _tag: "Failed"; readonly reason: string; readonly text: string }
  | { readonly _tag: "Stopped" }
  | { readonly _tag: "Undeliverable"; readonly reason: string }

/**
 * Notes and schedules belong to the person (or the configured single owner), never to the
 * model's say; a scheduled turn acts for the owner of its job. Channels use it for commands
 * such as `/tasks` (with `[tools.kv_memory] default_owner_id` as `defaultOwner`).
 */
export const ownerIdOf = (
  defaultOwner: string | undefined,
  message: Pick<InboundMessage, "conversation" | "userId" | "scheduled">
): string =>
  message.scheduled?.ownerId ?? defaultOwner ?? (message.userId === undefined
    ? `${message.conversation.channel}:chat:${message.conversation.chatId}`
    : `${message.conversation.channel}:${message.userId}`)

/** What the model produced in one turn: the text for the person and the messages to remember. */
interface Answer {
  readonly text: string
  readonly messages: ReadonlyArray<Chat.ChatMessage>
}

type Outcome =
  | { readonly _tag: "Answered"; readonly answer: Answer }
  | { readonly _tag: "Failed"; readonly text: string; readonly reason: string }
  | { readonly _tag: "Cancelled" }

export class ConversationTurn extends Effect.Service<ConversationTurn>()("minibot/ConversationTurn", {
  scoped: Effect.gen(function*() {
    const { config } = yield* AppConfig
    const llm = yield* Llm
    const history = yield* HistoryStore
    const ledger = yield* TurnLedger
    const outbound = yield* Outbound
    const bus = yield* Bus
    const tools = yield* ToolRegistry
    const ownerOf = (message: InboundMessage) => ownerIdOf(config.tools.kv_memory.default_owner_id, message)
    /** The model work of the turn running in each conversation, so `/stop` can interrupt it. */
    const running = yield* FiberMap.make<ConversationKey>()

    const ask = (key: ConversationKey, message: InboundMessage) =>
      Effect.gen(function*() {
        const past = yield* history.window(key, config.llm.context.history_window)
        const prompt = [Chat.system(config.llm.context.system_prompt), ...past]
        // What this turn adds to the history: the question, any tool steps, the answer.
        const produced: Array<Chat.ChatMessage> = [Chat.user(scheduledInstruction(message))]
        const context: ToolContext = {
          ownerId: ownerOf(message),
          conversation: message.conversation,
          conversationKey: key,
          ...(message.userId === undefined ? {} : { userId: message.userId })
        }
        const seen = new Map<string, string>()
        const finish = (text: string): Answer => ({ text, messages: [...produced, Chat.assistant(text)] })

        for (let step = 0;; step++) {
          const completion = yield* llm.complete({ messages: [...prompt, ...produced], tools: tools.specs() })
          if (completion.toolCalls.length === 0) {
            return finish(completion.content?.trim() || emptyAnswerText)
          }
          if (step >= config.llm.max_tool_iterations) {
            yield* Effect.logWarning("tool step limit reached").pipe(Effect.annotateLogs("steps", step))
            return finish(toolLimitText(config.llm.max_tool_iterations))
          }
          const results = yield* tools.executeAll(completion.toolCalls, context)
          produced.push(
            Chat.assistant(completion.content, completion.toolCalls),
            ...results.map((r) => Chat.toolResult(r.tool_call_id, r.content))
          )
          yield* Effect.logInfo("tool step").pipe(
            Effect.annotateLogs({ step: step + 1, tools: results.map((r) => r.name).join(",") })
          )
          // A step that only repeats earlier calls with the same results makes no progress.
          const signatures = completion.toolCalls.map((c, i) =>
            [`${c.function.name}\u0000${c.function.arguments}`, results[i]!.content] as const
          )
          if (signatures.every(([sig, result]) => seen.get(sig) === result)) {
            yield* Effect.logWarning("model repeats the same tool call: stopping")
            return finish(repeatedToolText)
          }
          for (const [sig, result] of signatures) seen.set(sig, result)
        }
      })

    /** Runs the model work where `/stop` can reach it; shows "typing…" meanwhile. */
    const think = (key: ConversationKey, message: InboundMessage): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const fiber = yield* FiberMap.run(running, key, ask(key, message))
        const typing = yield* outbound.typing(message.conversation).pipe(Effect.repeat(typingRefresh), Effect.fork)
        const exit = yield* Fiber.await(fiber)
        yield* Fiber.interrupt(typing)
        if (Exit.isSuccess(exit)) return { _tag: "Answered", answer: exit.value } as const
        if (Cause.isInterruptedOnly(exit.cause)) return { _tag: "Cancelled" } as const
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) {
          return { _tag: "Failed", text: userMessage(failure.value), reason: failure.value.reason } as const
        }
        yield* Effect.logError("turn failed unexpectedly", exit.cause)
        return { _tag: "Failed", text: unexpectedErrorText, reason: "defect" } as const
      })

    const deliver = (message: InboundMessage, text: string, kind: OutboundMessage["kind"]) =>
      outbound.deliver({
        conversation: message.conversation,
        text,
        kind,
        inReplyTo: {
          messageId: message.messageId,
          platformMessageId: message.platformMessageId,
          isGroup: message.isGroup
        }
      })

    const handle = Effect.fn("ConversationTurn.handle")(
      function*(message: InboundMessage): Effect.fn.Return<TurnResult> {
        const key = keyOf(message.conversation)
        const scheduled = message.kind === "scheduled"
        const silent = scheduled && message.scheduled?.notify === false
        const started = yield* Clock.currentTimeMillis
        const prior = yield* ledger.lookup(key, message.messageId)
        if (Option.isSome(prior) && prior.value.status !== "answered" && prior.value.status !== "failed") {
          yield* Effect.logInfo("message already handled: not answering again").pipe(
            Effect.annotateLogs("status", prior.value.status)
          )
          yield* Metric.increment(Metrics.duplicatesIgnored)
          yield* bus.publish(BusEvent.DuplicateIgnored({ conversation: key, messageId: message.messageId }))
          return { _tag: "Duplicate" } as const
        }

        let reply: { text: string; kind: OutboundMessage["kind"] }
        if (scheduled && Option.isSome(prior) && prior.value.status === "failed") {
          // The scheduler retries with a new message id; this attempt's failure is already recorded.
          return { _tag: "Failed", reason: "failed before a restart", text: prior.value.reply ?? "" } as const
        } else if (Option.isSome(prior) && prior.value.reply !== null) {
          // Answered before a crash, not yet delivered: deliver what was stored.
          yield* Effect.logInfo("delivering a reply stored before a restart")
          reply = { text: prior.value.reply, kind: prior.value.status === "failed" ? "error" : "answer" }
        } else {
          yield* Effect.logInfo("turn started")
          const outcome = yield* think(key, message)
          switch (outcome._tag) {
            case "Answered": {
              yield* ledger.atomically(Effect.zipRight(
                history.append(key, message.messageId, outcome.answer.messages),
                ledger.settle(key, message.messageId, "answered", outcome.answer.text)
              ))
              reply = { text: outcome.answer.text, kind: "answer" }
              break
            }
            case "Failed": {
              yield* ledger.settle(key, message.messageId, "failed", outcome.text, outcome.reason)
              yield* Metric.increment(Metrics.turnFailures)
              yield* bus.publish(BusEvent.TurnFailed({
                conversation: key,
                messageId: message.messageId,
                requestId: message.requestId,
                reason: outcome.reason
              }))
              if (scheduled) return { _tag: "Failed", reason: outcome.reason, text: outcome.text } as const
              reply = { text: outcome.text, kind: "error" }
              break
            }
            case "Cancelled": {
              yield* Effect.logInfo("turn stopped by the user")
              yield* ledger.settle(key, message.messageId, "cancelled", stoppedText)
              reply = { text: stoppedText, kind: "notice" }
              break
            }
          }
        }

        if (silent) {
          yield* ledger.settle(key, message.messageId, "delivered", null)
          yield* Effect.logInfo("scheduled turn ran silently (notify = false)")
          return { _tag: "Silent", text: reply.text } as const
        }
        const delivered = yield* deliver(message, reply.text, reply.kind).pipe(Effect.either)
        if (delivered._tag === "Left") {
          yield* Effect.logError("reply could not be delivered", delivered.left)
          yield* ledger.settle(key, message.messageId, "undeliverable", null, delivered.left.message)
          return { _tag: "Undeliverable", reason: delivered.left.message } as const
        }
        yield* ledger.settle(key, message.messageId, "delivered", null)
        const durationMs = (yield* Clock.currentTimeMillis) - started
        yield* Metric.increment(Metrics.repliesSent)
        yield* Metric.update(Metrics.turnDuration, durationMs / 1000)
        yield* bus.publish(BusEvent.ReplySent({
          conversation: key,
          messageId: message.messageId,
          requestId: message.requestId,
          chunks: delivered.right.chunks,
          durationMs
        }))
        yield* Effect.logInfo("reply delivered").pipe(
          Effect.annotateLogs({ duration_ms: durationMs, chunks: delivered.right.chunks })
        )
        return reply.kind === "notice" && reply.text === stoppedText
          ? { _tag: "Stopped" } as const
          : { _tag: "Delivered", text: reply.text } as const
      }
    )

    /**
     * Handles a message; whatever goes wrong is logged and told to the person, never raised
     * (a scheduled turn's failure is returned instead, for the scheduler to retry or report).
     */
    const run = (message: InboundMessage): Effect.Effect<TurnResult> =>
      handle(message).pipe(
        Effect.catchAllCause((cause): Effect.Effect<TurnResult> =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause) // shutting down: the mailbox redelivers it on the next start
            : Effect.logError("turn crashed", cause).pipe(
              Effect.zipRight(
                message.kind === "scheduled"
                  ? Effect.void
                  : deliver(message, unexpectedErrorText, "error").pipe(Effect.ignore)
              ),
              Effect.as({ _tag: "Failed", reason: "defect", text: unexpectedErrorText } as const)
            )
        ),
        Effect.annotateLogs({
          component: "conversation",
          request_id: message.requestId,
          chat_id: message.conversation.chatId,
          channel: message.conversation.channel,
          ...(message.userId === undefined ? {} : { user_id: message.userId }),
          message_id: message.messageId,
          ...(message.scheduled === undefined ? {} : { job_id: message.scheduled.jobId })
        })
      )

    /** Interrupts the model work of the conversation's current turn; false when none runs. */
    const cancel = (key: ConversationKey) =>
      Effect.gen(function*() {
        const has = yield* FiberMap.has(running, key)
        if (has) yield* FiberMap.remove(running, key)
        return has
      })

    return { run, cancel } as const
  })
}) {}
