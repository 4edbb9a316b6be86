/**
 * One turn of a conversation: the inbound message in, the reply out, exactly once. Runs inside the
 * conversation's actor, so turns of one chat never overlap. Never fails: whatever breaks, the
 * person gets a short message and the actor moves on.
 */
import { Cause, Clock, Data, DateTime, Duration, Effect, Either, Exit, Fiber, Metric, Option, Schedule } from "effect"
import { Bus, BusEvent } from "../bus/Bus.ts"
import { Outbound, type OutboundMessage } from "../channels/Outbound.ts"
import { LlmSettings } from "../config/Config.ts"
import * as Chat from "../domain/ChatMessage.ts"
import { type ConversationKey, type ConversationRef, keyOf } from "../domain/Conversation.ts"
import { InboundMessage, isScheduled, type ScheduledPrompt, type TurnInput } from "../domain/Inbound.ts"
import { Llm, type LlmError, userMessage } from "../llm/Llm.ts"
import { MediaGroups } from "../media/MediaGroups.ts"
import { MediaInput, MediaProblem } from "../media/MediaInput.ts"
import { HistoryStore } from "../memory/HistoryStore.ts"
import * as Metrics from "../observability/Metrics.ts"
import * as Tracing from "../observability/Tracing.ts"
import type { ToolContext } from "../tools/Tool.ts"
import { ToolRegistry } from "../tools/ToolRegistry.ts"
import { ToolsSettings } from "../tools/ToolsConfig.ts"
import { Actors } from "./Actors.ts"
import { TurnLedger, type TurnRecord } from "./TurnLedger.ts"

const typingRefresh = Schedule.spaced(Duration.seconds(4))

export const unexpectedErrorText = "Sorry, something went wrong on my side while answering. Please try again."
export const stoppedText = "Stopped."
export const visionUnsupportedText =
  "The model I use here could not take the picture: it probably cannot see images. Describe it in words, " +
  "or ask the owner to use a model with vision (or set [llm] vision = false)."
export const transcriptEcho = (transcript: string) => `Transcript: ${transcript}`
export const emptyAnswerText = "(the model returned an empty answer)"
export const repeatedToolText =
  "I stopped because I kept repeating the same step without getting anywhere. Could you rephrase or narrow the request?"
export const toolLimitText = (limit: number) =>
  `I stopped after ${limit} tool steps without finishing. Could you split the request into smaller parts?`

/** A message longer than `[llm.context] max_input_chars` reaches the model cut, with a note saying so. */
export const inputForModel = (text: string, max: number): string => {
  if (text.length <= max) return text
  const note = `[The message was cut here: it has ${text.length} characters and only the first ${max} are read ` +
    "([llm.context] max_input_chars).]"
  return `${text.slice(0, max)}\n\n${note}`
}

/** A due job's prompt as the model sees it: an instruction to carry out now, not a request to schedule. */
export const scheduledInstruction = (prompt: ScheduledPrompt): string => {
  const info = prompt.job
  const zone = DateTime.zoneMakeNamed(info.timezone)
  const due = Option.isSome(zone)
    ? DateTime.formatIsoOffset(DateTime.unsafeMakeZoned(info.dueAt, { timeZone: zone.value }))
    : new Date(info.dueAt).toISOString()
  const late = info.lateMs >= 60_000
    ? `, ${Math.round(info.lateMs / 60_000)} minutes late`
    : info.lateMs >= 5_000
    ? `, ${Math.round(info.lateMs / 1000)} seconds late`
    : ""
  return `Scheduled instruction (job ${info.jobId}, due ${due}${late}): ${prompt.text}\n` +
    "Do it now; do not schedule it again."
}

/**
 * How a turn ended, for whoever submitted it (the scheduler retries `Failed` scheduled turns).
 * A scheduled turn that failed is not told to the person: the scheduler tells them once, after
 * its last retry.
 */
export type TurnResult = Data.TaggedEnum<{
  Delivered: { readonly text: string }
  /** `notify = false`: answered and remembered, nothing sent. */
  Silent: { readonly text: string }
  /** Handled before (a redelivery). */
  Duplicate: {}
  Failed: { readonly reason: string; readonly text: string }
  Stopped: {}
  Undeliverable: { readonly reason: string }
}>
export const TurnResult = Data.taggedEnum<TurnResult>()

/**
 * Notes and schedules belong to the person (or the configured single owner), never to the
 * model's say; a scheduled turn acts for the owner of its job. In a group the group itself is the
 * owner, whoever writes and whatever `default_owner_id` says: a tool result there lands in a
 * history every member's turns read, so only the group's own notes and schedules may be reached
 * (a person's private notes stay in their private chat). Channels use it for commands such as
 * `/tasks` (with `[tools.kv_memory] default_owner_id` as `defaultOwner`).
 */
export const ownerIdOf = (
  defaultOwner: string | undefined,
  input: {
    readonly conversation: ConversationRef
    readonly userId?: string | undefined
    readonly isGroup?: boolean
    readonly job?: { readonly ownerId: string }
  }
): string => {
  const chatOwner = `${input.conversation.channel}:chat:${input.conversation.chatId}`
  if (input.job !== undefined) return input.job.ownerId
  if (input.isGroup === true) return chatOwner
  return defaultOwner ?? (input.userId === undefined ? chatOwner : `${input.conversation.channel}:${input.userId}`)
}

/** What the model produced in one turn: the text for the person and the messages to remember. */
interface Answer {
  readonly text: string
  readonly messages: ReadonlyArray<Chat.ChatMessage>
}

/** How the model work of a turn ended. */
type Outcome = Data.TaggedEnum<{
  Answered: { readonly answer: Answer }
  Failed: { readonly text: string; readonly reason: string }
  Cancelled: {}
}>
const Outcome = Data.taggedEnum<Outcome>()

/** What goes to the person: the model's answer, our error text, or the end of a stopped turn. */
type Reply = Data.TaggedEnum<{
  Answer: { readonly text: string }
  Error: { readonly text: string }
  Stopped: {}
}>
const Reply = Data.taggedEnum<Reply>()

const toOutbound: (reply: Reply) => Pick<OutboundMessage, "text" | "kind"> = Reply.$match({
  Answer: ({ text }) => ({ text, kind: "answer" as const }),
  Error: ({ text }) => ({ text, kind: "error" as const }),
  Stopped: () => ({ text: stoppedText, kind: "notice" as const })
})

export class ConversationTurn extends Effect.Service<ConversationTurn>()("minibot/ConversationTurn", {
  dependencies: [MediaInput.Default, MediaGroups.Default],
  effect: Effect.gen(function*() {
    const llmConfig = yield* LlmSettings
    const { tools: toolsConfig } = yield* ToolsSettings
    const llm = yield* Llm
    const history = yield* HistoryStore
    const ledger = yield* TurnLedger
    const outbound = yield* Outbound
    const bus = yield* Bus
    const tools = yield* ToolRegistry
    const actors = yield* Actors
    const media = yield* MediaInput
    const albums = yield* MediaGroups
    const ownerOf = (input: TurnInput) => ownerIdOf(toolsConfig.kv_memory.default_owner_id, input)

    /** The person's words: their text, or their files read (pictures fetched, voice transcribed...). */
    const question = (input: TurnInput) =>
      Effect.gen(function*() {
        if (isScheduled(input)) return { text: scheduledInstruction(input), images: [] }
        if (input.attachments.length === 0) return { text: input.text, images: [] }
        const read = yield* media.prepare(input.conversation, input.text, input.attachments)
        if (llmConfig.transcription.show_transcript) {
          for (const transcript of read.transcripts) {
            yield* send(input, transcriptEcho(transcript), "notice").pipe(
              Effect.catchAll((error) => Effect.logWarning(`could not echo the transcript: ${error.message}`))
            )
          }
        }
        return read
      })

    const ask = (key: ConversationKey, input: TurnInput) =>
      Effect.gen(function*() {
        const past = yield* history.window(key, llmConfig.context.history_window)
        const prompt = [Chat.system(llmConfig.context.system_prompt), ...past]
        const asked = yield* question(input)
        const text = inputForModel(asked.text, llmConfig.context.max_input_chars)
        // What this turn adds to the history: the question, any tool steps, the answer.
        const produced: Array<Chat.ChatMessage> = [Chat.user(text)]
        // The model sees this turn's pictures; the history keeps only their references.
        const shown = asked.images.length === 0 ? produced[0]! : Chat.userWithImages(text, asked.images)
        const complete = (messages: ReadonlyArray<Chat.ChatMessage>) =>
          llm.complete({ messages, tools: tools.specs() }).pipe(
            Effect.catchIf(
              (error: LlmError) =>
                error.reason === "bad_request" && asked.images.length > 0 && llmConfig.vision === "auto",
              (error) =>
                Effect.fail(
                  new MediaProblem({ text: visionUnsupportedText, reason: `images refused: ${error.message}` })
                )
            )
          )
        const context: ToolContext = {
          ownerId: ownerOf(input),
          conversation: input.conversation,
          conversationKey: key,
          ...(input.userId === undefined ? {} : { userId: input.userId })
        }
        const seen = new Map<string, string>()
        const finish = (text: string): Answer => ({ text, messages: [...produced, Chat.assistant(text)] })

        for (let step = 0;; step++) {
          const completion = yield* complete([...prompt, shown, ...produced.slice(1)])
          if (completion.toolCalls.length === 0) {
            return finish(completion.content?.trim() || emptyAnswerText)
          }
          if (step >= llmConfig.max_tool_iterations) {
            yield* Effect.logWarning("tool step limit reached").pipe(Effect.annotateLogs("steps", step))
            return finish(toolLimitText(llmConfig.max_tool_iterations))
          }
          // Calls beyond [tools] max_calls_per_step are dropped, from the history too: the model sees what ran.
          const calls = completion.toolCalls.slice(0, toolsConfig.max_calls_per_step)
          if (calls.length < completion.toolCalls.length) {
            yield* Effect.logWarning("tool calls over max_calls_per_step dropped").pipe(
              Effect.annotateLogs({ requested: completion.toolCalls.length, run: calls.length })
            )
          }
          const results = yield* tools.executeAll(calls, context)
          produced.push(
            Chat.assistant(completion.content, calls),
            ...results.map((r) => Chat.toolResult(r.tool_call_id, r.content))
          )
          yield* Effect.logInfo("tool step").pipe(
            Effect.annotateLogs({ step: step + 1, tools: results.map((r) => r.name).join(",") })
          )
          // A step that only repeats earlier calls with the same results makes no progress.
          const signatures = calls.map((c, i) =>
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
    const think = (key: ConversationKey, input: TurnInput): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const typing = yield* outbound.typing(input.conversation).pipe(Effect.repeat(typingRefresh), Effect.fork)
        const exit = yield* actors.stoppable(key, ask(key, input)).pipe(Effect.ensuring(Fiber.interrupt(typing)))
        if (Exit.isSuccess(exit)) return Outcome.Answered({ answer: exit.value })
        if (Cause.isInterruptedOnly(exit.cause)) return Outcome.Cancelled()
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) {
          const error = failure.value
          return error._tag === "MediaProblem"
            ? Outcome.Failed({ text: error.text, reason: error.reason })
            : Outcome.Failed({ text: userMessage(error), reason: error.reason })
        }
        yield* Effect.logError("turn failed unexpectedly", exit.cause)
        return Outcome.Failed({ text: unexpectedErrorText, reason: "defect" })
      })

    /** A message seen before: ignored, or its stored reply sent again; `None` when it must be answered anew. */
    const replay = (input: TurnInput, key: ConversationKey, prior: TurnRecord) =>
      Effect.gen(function*(): Effect.fn.Return<Option.Option<Either.Either<Reply, TurnResult>>> {
        if (prior.status !== "answered" && prior.status !== "failed") {
          yield* Effect.logInfo("message already handled: not answering again").pipe(
            Effect.annotateLogs("status", prior.status)
          )
          yield* Metric.increment(Metrics.duplicatesIgnored)
          yield* bus.publish(BusEvent.DuplicateIgnored({ conversation: key, messageId: input.messageId }))
          return Option.some(Either.left(TurnResult.Duplicate()))
        }
        if (isScheduled(input) && prior.status === "failed") {
          // The scheduler retries with a new message id; this attempt's failure is already recorded.
          return Option.some(
            Either.left(TurnResult.Failed({ reason: "failed before a restart", text: prior.reply ?? "" }))
          )
        }
        if (prior.reply === null) return Option.none()
        // Answered before a crash, not yet delivered: deliver what was stored.
        yield* Effect.logInfo("delivering a reply stored before a restart")
        const text = prior.reply
        return Option.some(Either.right(prior.status === "failed" ? Reply.Error({ text }) : Reply.Answer({ text })))
      })

    /** Asks the model and records the outcome (with the history, in one commit when answered). */
    const answer = (input: TurnInput, key: ConversationKey) =>
      Effect.gen(function*(): Effect.fn.Return<Either.Either<Reply, TurnResult>> {
        yield* Effect.logInfo("turn started")
        const outcome = yield* think(key, input)
        switch (outcome._tag) {
          case "Answered": {
            yield* ledger.atomically(Effect.zipRight(
              history.append(key, input.messageId, outcome.answer.messages),
              ledger.settle(key, input.messageId, "answered", outcome.answer.text)
            ))
            return Either.right(Reply.Answer({ text: outcome.answer.text }))
          }
          case "Failed": {
            yield* ledger.settle(key, input.messageId, "failed", outcome.text, outcome.reason)
            yield* Metric.increment(Metrics.turnFailures)
            yield* bus.publish(BusEvent.TurnFailed({
              conversation: key,
              messageId: input.messageId,
              requestId: input.requestId,
              reason: outcome.reason
            }))
            return isScheduled(input)
              ? Either.left(TurnResult.Failed({ reason: outcome.reason, text: outcome.text }))
              : Either.right(Reply.Error({ text: outcome.text }))
          }
          case "Cancelled": {
            yield* Effect.logInfo("turn stopped by the user")
            yield* ledger.settle(key, input.messageId, "cancelled", stoppedText)
            return Either.right(Reply.Stopped())
          }
        }
      })

    const send = (input: TurnInput, text: string, kind: OutboundMessage["kind"]) =>
      outbound.deliver({
        conversation: input.conversation,
        text,
        kind,
        inReplyTo: isScheduled(input)
          ? { messageId: input.messageId, isGroup: false }
          : { messageId: input.messageId, platformMessageId: input.platformMessageId, isGroup: input.isGroup }
      })

    /** Sends the reply (unless the job is silent) and records that it went out. */
    const deliver = (input: TurnInput, key: ConversationKey, reply: Reply, started: number) =>
      Effect.gen(function*(): Effect.fn.Return<TurnResult> {
        const { text, kind } = toOutbound(reply)
        if (isScheduled(input) && !input.job.notify) {
          yield* ledger.settle(key, input.messageId, "delivered", null)
          yield* Effect.logInfo("scheduled turn ran silently (notify = false)")
          return TurnResult.Silent({ text })
        }
        const delivered = yield* send(input, text, kind).pipe(Effect.either)
        if (Either.isLeft(delivered)) {
          yield* Effect.logError("reply could not be delivered", delivered.left)
          yield* ledger.settle(key, input.messageId, "undeliverable", null, delivered.left.message)
          return TurnResult.Undeliverable({ reason: delivered.left.message })
        }
        yield* ledger.settle(key, input.messageId, "delivered", null)
        const durationMs = (yield* Clock.currentTimeMillis) - started
        yield* Metric.increment(Metrics.repliesSent)
        yield* Metric.update(Metrics.turnDuration, durationMs / 1000)
        yield* bus.publish(BusEvent.ReplySent({
          conversation: key,
          messageId: input.messageId,
          requestId: input.requestId,
          chunks: delivered.right.chunks,
          durationMs
        }))
        yield* Effect.logInfo("reply delivered").pipe(
          Effect.annotateLogs({ duration_ms: durationMs, chunks: delivered.right.chunks })
        )
        return Reply.$is("Stopped")(reply) ? TurnResult.Stopped() : TurnResult.Delivered({ text })
      })

    /**
     * An album part: the whole album as one message, when this part's turn is the one that takes
     * it (`MediaGroups`); `None` when an earlier part's turn answered it.
     */
    const album = (input: TurnInput, key: ConversationKey) =>
      Effect.gen(function*(): Effect.fn.Return<Option.Option<TurnInput>> {
        if (isScheduled(input) || input.mediaGroupId === undefined) return Option.some(input)
        const parts = yield* albums.take(key, input.mediaGroupId, input.messageId).pipe(Effect.orDie)
        if (Option.isNone(parts)) return Option.none()
        if (parts.value.length === 0) return Option.some(input)
        yield* Effect.logInfo("album answered as one turn").pipe(Effect.annotateLogs("parts", parts.value.length))
        return Option.some(
          new InboundMessage({
            ...input,
            text: parts.value.map((part) => part.text.trim()).filter((text) => text !== "").join("\n\n"),
            attachments: parts.value.flatMap((part) => part.attachments)
          })
        )
      })

    const handle = Effect.fn("ConversationTurn.handle")(function*(input: TurnInput) {
      const key = keyOf(input.conversation)
      const started = yield* Clock.currentTimeMillis
      const prior = yield* ledger.lookup(key, input.messageId)
      const replayed = Option.isSome(prior) ? yield* replay(input, key, prior.value) : Option.none()
      if (Option.isSome(replayed)) {
        const next = replayed.value
        return Either.isLeft(next) ? next.left : yield* deliver(input, key, next.right, started)
      }
      const whole = yield* album(input, key)
      if (Option.isNone(whole)) {
        yield* Effect.logDebug("album part answered with its album")
        yield* ledger.settle(key, input.messageId, "delivered", null)
        return TurnResult.Duplicate()
      }
      const next = yield* answer(whole.value, key)
      return Either.isLeft(next) ? next.left : yield* deliver(whole.value, key, next.right, started)
    })

    /**
     * Handles a message; whatever goes wrong is logged and told to the person, never raised
     * (a scheduled turn's failure is returned instead, for the scheduler to retry or report).
     */
    const run = (input: TurnInput): Effect.Effect<TurnResult> =>
      handle(input).pipe(
        Effect.catchAllCause((cause): Effect.Effect<TurnResult> =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause) // shutting down: the mailbox redelivers it on the next start
            : Effect.logError("turn crashed", cause).pipe(
              Effect.zipRight(
                isScheduled(input) ? Effect.void : send(input, unexpectedErrorText, "error").pipe(Effect.ignore)
              ),
              Effect.as(TurnResult.Failed({ reason: "defect", text: unexpectedErrorText }))
            )
        ),
        Effect.annotateLogs({
          component: "conversation",
          request_id: input.requestId,
          chat_id: input.conversation.chatId,
          channel: input.conversation.channel,
          ...(input.userId === undefined ? {} : { user_id: input.userId }),
          message_id: input.messageId,
          ...(isScheduled(input) ? { job_id: input.job.jobId } : {})
        }),
        // Every span of the turn (LLM requests, tool calls, Telegram calls) says which message it serves.
        Effect.annotateSpans({
          ...Tracing.messageAttributes(input),
          ...(isScheduled(input) ? { [Tracing.attributes.job]: input.job.jobId } : {})
        })
      )

    return { run } as const
  })
}) {}
