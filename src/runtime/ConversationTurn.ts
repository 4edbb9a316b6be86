/**
 * One turn of a conversation: the inbound message in, the reply out, exactly once. Runs inside the
 * conversation's actor, so turns of one chat never overlap. Never fails: whatever breaks, the
 * person gets a short message and the actor moves on.
 */
import {
  Cause,
  Clock,
  Data,
  DateTime,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Metric,
  Option,
  Schedule,
  type Scope
} from "effect"
import { Bus, BusEvent } from "../bus/Bus.ts"
import { Outbound, type OutboundMessage, type ReplyPreview } from "../channels/Outbound.ts"
import { LlmSettings, TelegramSettings } from "../config/Config.ts"
import * as Chat from "../domain/ChatMessage.ts"
import { type ConversationKey, type ConversationRef, keyOf } from "../domain/Conversation.ts"
import { InboundMessage, isScheduled, type ScheduledPrompt, type TurnInput } from "../domain/Inbound.ts"
import { Llm, type LlmError, userMessage } from "../llm/Llm.ts"
import { MediaGroups } from "../media/MediaGroups.ts"
import { MediaInput, MediaProblem } from "../media/MediaInput.ts"
import { ContextBudget } from "../memory/ContextBudget.ts"
import { HistoryStore } from "../memory/HistoryStore.ts"
import * as Metrics from "../observability/Metrics.ts"
import * as Tracing from "../observability/Tracing.ts"
import type { ToolContext } from "../tools/Tool.ts"
import { ToolRegistry } from "../tools/ToolRegistry.ts"
import { ToolsSettings } from "../tools/ToolsConfig.ts"
import { Actors } from "./Actors.ts"
import { Draining } from "./Draining.ts"
import { TurnLedger, type TurnRecord, type TurnStatus } from "./TurnLedger.ts"

const typingRefresh = Schedule.spaced(Duration.seconds(4))
/**
 * "typing…" goes out only once the answer takes longer than this: an answer ready sooner is seen
 * before the indicator would be, and the request would only compete with the model's.
 */
const typingDelay = Duration.millis(300)

export const unexpectedErrorText = "Sorry, something went wrong on my side while answering. Please try again."
export const stoppedText = "Stopped."
export const visionUnsupportedText =
  "The model I use here could not take the picture: it probably cannot see images. Describe it in words, " +
  "or ask the owner to use a model with vision (or set [llm] vision = false)."
export const transcriptEcho = (transcript: string) => `Transcript: ${transcript}`
export const emptyAnswerText = "(the model returned an empty answer)"
export const repeatedToolText =
  "I stopped because I kept repeating the same step without getting anywhere. Could you rephrase or narrow the request?"
/** What a reply's preview says while tools run. */
export const usingToolsText = (names: ReadonlyArray<string>) => `Using ${[...new Set(names)].join(", ")}...`
export const toolLimitText = (limit: number) =>
  `I stopped after ${limit} tool steps without finishing. Could you split the request into smaller parts?`

/** A message longer than `[llm.context] max_input_chars` reaches the model cut, with a note saying so. */
export const inputForModel = (text: string, max: number): string => {
  if (text.length <= max) return text
  const note = `[The message was cut here: it has ${text.length} characters and only the first ${max} are read ` +
    "([llm.context] max_input_chars).]"
  return `${text.slice(0, max)}\n\n${note}`
}

/**
 * Telegram's apps split a paste into messages of at most 4096 characters, cut at a line or word
 * break: a part at least this long may have a continuation on its way; a shorter one ends it.
 */
export const splitPartLength = 3000

/** The parts of a merged paste as one message: their texts in order, one per line, and their files. */
export const joinParts = (first: InboundMessage, later: ReadonlyArray<InboundMessage>): InboundMessage =>
  later.length === 0 ? first : new InboundMessage({
    ...first,
    text: [first, ...later].map((part) => part.text).join("\n"),
    attachments: [first, ...later].flatMap((part) => part.attachments)
  })

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
    const { merge_window_ms: mergeWindow } = yield* TelegramSettings
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
    const budget = yield* ContextBudget
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

    const ask = (key: ConversationKey, input: TurnInput, preview: Option.Option<ReplyPreview>) =>
      Effect.gen(function*() {
        const onText = Option.match(preview, {
          onNone: () => undefined,
          onSome: (p) => (text: string) => p.show({ kind: "text", text })
        })
        const system = Chat.system(llmConfig.context.system_prompt)
        const asked = yield* question(input)
        const text = inputForModel(asked.text, llmConfig.context.max_input_chars)
        // What this turn adds to the history: the question, any tool steps, the answer.
        const produced: Array<Chat.ChatMessage> = [Chat.user(text)]
        // The model sees this turn's pictures; the history keeps only their references.
        const shown = asked.images.length === 0 ? produced[0]! : Chat.userWithImages(text, asked.images)
        const complete = (messages: ReadonlyArray<Chat.ChatMessage>) =>
          llm.complete({ messages, tools: tools.specs(), ...(onText === undefined ? {} : { onText }) }).pipe(
            Effect.catchIf(
              (error: LlmError) =>
                error.reason === "bad_request" && asked.images.length > 0 && llmConfig.vision === "auto",
              (error) =>
                Effect.fail(
                  new MediaProblem({ text: visionUnsupportedText, reason: `images refused: ${error.message}` })
                )
            )
          )
        const prompt = [system, ...yield* budget.past(key, [system, ...produced])]
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
          // Calibrated on the text alone: a picture's bytes are not what its tokens cost.
          yield* budget.observe([...prompt, ...produced], true, completion.usage)
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
          if (Option.isSome(preview)) {
            yield* preview.value.show({ kind: "status", text: usingToolsText(calls.map((c) => c.function.name)) })
          }
          const results = yield* tools.executeAll(calls, context)
          yield* Effect.forEach(results, (r) =>
            bus.publish(BusEvent.ToolCalled({
              conversation: key,
              messageId: input.messageId,
              requestId: input.requestId,
              tool: r.name
            })), { discard: true })
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

    /**
     * The later parts of a paste Telegram split (or a forwarded burst): the person's messages
     * stored after `first`, each within the merge window of the one before, none handled yet.
     * Parts already stored are taken at once; the turn waits out the window only while the last part
     * looks cut by Telegram (a paste is split into messages of up to 4096 characters), so an
     * ordinary message is answered without delay. After a restart the parts are all stored.
     */
    const gather = (key: ConversationKey, first: InboundMessage) =>
      Effect.gen(function*() {
        const parts: Array<InboundMessage> = []
        if (mergeWindow === 0 || first.conversation.channel !== "telegram") return parts
        for (;;) {
          const taken = new Set(parts.map((p) => p.messageId))
          const later = (yield* actors.following(key, first.messageId)).filter((m) => !taken.has(m.messageId))
          let last = parts.at(-1) ?? first
          for (const next of later) {
            const joins = next.userId === first.userId && next.receivedAt - last.receivedAt <= mergeWindow &&
              Option.isNone(yield* ledger.lookup(key, next.messageId))
            // Another person's message, or one sent after a pause, ends the paste.
            if (!joins) return parts
            parts.push(next)
            last = next
          }
          if (last.text.length < splitPartLength) return parts
          const wait = Math.min(last.receivedAt + mergeWindow - (yield* Clock.currentTimeMillis), mergeWindow)
          if (wait <= 0) return parts
          yield* Effect.sleep(Duration.millis(wait))
        }
      }).pipe(
        Effect.tap((parts) =>
          parts.length === 0 ? Effect.void : Effect.logInfo("paste merged").pipe(
            Effect.annotateLogs({ parts: parts.length + 1, merged_ids: parts.map((p) => p.messageId).join(",") })
          )
        ),
        Effect.catchAll((error) =>
          Effect.logWarning("the mailbox could not be read for the rest of a paste", error).pipe(Effect.as([]))
        )
      )

    /** Runs the model work where `/stop` can reach it; shows "typing…" (and the preview, if any) meanwhile. */
    const think = (
      key: ConversationKey,
      input: TurnInput,
      preview: Option.Option<ReplyPreview>
    ): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const typing = yield* outbound.typing(input.conversation).pipe(
          Effect.repeat(typingRefresh),
          Effect.delay(typingDelay),
          Effect.fork
        )
        const exit = yield* actors.stoppable(key, ask(key, input, preview)).pipe(
          Effect.ensuring(Fiber.interrupt(typing))
        )
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
        if (prior.status === "merged") {
          yield* Effect.logInfo("part of a paste answered with its first part")
          return Option.some(Either.left(TurnResult.Duplicate()))
        }
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

    /**
     * Asks the model and records the outcome (with the history, in one commit when answered); the
     * later parts of a merged paste are recorded in the same commit.
     */
    const answer = (
      input: TurnInput,
      key: ConversationKey,
      preview: Option.Option<ReplyPreview>,
      merged: ReadonlyArray<string>
    ) =>
      Effect.gen(function*(): Effect.fn.Return<Either.Either<Reply, TurnResult>> {
        // Shutting down: the model is not asked now; the message is answered after the restart.
        yield* Draining.holdIfDraining
        yield* Effect.logInfo("turn started")
        yield* bus.publish(
          BusEvent.TurnStarted({ conversation: key, messageId: input.messageId, requestId: input.requestId })
        )
        const outcome = yield* think(key, input, preview)
        const settle = (status: TurnStatus, reply: string, error?: string) =>
          Effect.zipRight(
            ledger.settle(key, input.messageId, status, reply, error),
            Effect.forEach(merged, (id) => ledger.settle(key, id, "merged", null), { discard: true })
          )
        switch (outcome._tag) {
          case "Answered": {
            yield* ledger.atomically(Effect.zipRight(
              history.append(key, input.messageId, outcome.answer.messages),
              settle("answered", outcome.answer.text)
            ))
            return Either.right(Reply.Answer({ text: outcome.answer.text }))
          }
          case "Failed": {
            yield* ledger.atomically(settle("failed", outcome.text, outcome.reason))
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
            yield* ledger.atomically(settle("cancelled", stoppedText))
            return Either.right(Reply.Stopped())
          }
        }
      })

    const target = (input: TurnInput) => ({
      conversation: input.conversation,
      inReplyTo: isScheduled(input)
        ? { messageId: input.messageId, isGroup: false }
        : { messageId: input.messageId, platformMessageId: input.platformMessageId, isGroup: input.isGroup }
    })

    /** A message not seen before, with the later parts of its paste when it starts one. */
    const fresh = (input: TurnInput, key: ConversationKey) =>
      isScheduled(input)
        ? Effect.succeed({ turn: input, merged: [] as ReadonlyArray<string> })
        : Effect.map(gather(key, input), (later) => ({
          turn: joinParts(input, later),
          merged: later.map((part) => part.messageId)
        }))

    /** The reply goes out through the preview when there is one (it may take the preview's place). */
    const send = (
      input: TurnInput,
      text: string,
      kind: OutboundMessage["kind"],
      preview: Option.Option<ReplyPreview> = Option.none()
    ) => {
      const message: OutboundMessage = { ...target(input), text, kind }
      return Option.isSome(preview) ? preview.value.deliver(message) : outbound.deliver(message)
    }

    /**
     * Sends the reply (unless the job is silent) and records that it went out. Not interruptible
     * between a message sent and its record (the channel lets only the wait for a send slot be
     * interrupted): a shutdown never leaves a sent reply unrecorded, to be sent again.
     */
    const deliver = (
      input: TurnInput,
      key: ConversationKey,
      reply: Reply,
      started: number,
      preview: Option.Option<ReplyPreview>
    ) =>
      Effect.gen(function*(): Effect.fn.Return<TurnResult> {
        const { text, kind } = toOutbound(reply)
        if (isScheduled(input) && !input.job.notify) {
          yield* ledger.settle(key, input.messageId, "delivered", null)
          yield* Effect.logInfo("scheduled turn ran silently (notify = false)")
          return TurnResult.Silent({ text })
        }
        const delivered = yield* send(input, text, kind, preview).pipe(Effect.either)
        if (Either.isLeft(delivered)) {
          yield* Effect.logError("reply could not be delivered", delivered.left)
          yield* ledger.settle(key, input.messageId, "undeliverable", null, delivered.left.message)
          yield* bus.publish(BusEvent.DeliveryFailed({
            conversation: key,
            messageId: input.messageId,
            requestId: input.requestId,
            reason: delivered.left.message
          }))
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
      }).pipe(Effect.uninterruptible)

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

    /**
     * The live preview of a person's reply, when the channel streams (a reply sent again after a
     * restart shows nothing new: its preview only replaces what a crashed attempt left).
     */
    const previewFor = (input: TurnInput, key: ConversationKey, left: Option.Option<string>) =>
      isScheduled(input)
        ? Effect.succeed(Option.none<ReplyPreview>())
        : outbound.preview(target(input), {
          left,
          remember: (reference) => ledger.rememberPreview(key, input.messageId, reference)
        })

    /**
     * A person's turn that the model answers now is previewed while it is written (when the
     * channel streams); a scheduled turn goes out whole. The preview lives as long as the turn:
     * it ends with the delivery, or is removed if the turn ends without one.
     */
    const handle = Effect.fn("ConversationTurn.handle")(function*(input: TurnInput) {
      const key = keyOf(input.conversation)
      const started = yield* Clock.currentTimeMillis
      const { preview: left, prior } = yield* ledger.recall(key, input.messageId)
      const replayed = Option.isSome(prior) ? yield* replay(input, key, prior.value) : Option.none()
      const respond = Effect.gen(function*(): Effect.fn.Return<TurnResult, never, Scope.Scope> {
        if (Option.isSome(replayed)) {
          if (Either.isLeft(replayed.value)) return replayed.value.left
          return yield* deliver(input, key, replayed.value.right, started, yield* previewFor(input, key, left))
        }
        const whole = yield* album(input, key)
        if (Option.isNone(whole)) {
          yield* Effect.logDebug("album part answered with its album")
          yield* ledger.settle(key, input.messageId, "delivered", null)
          return TurnResult.Duplicate()
        }
        const { merged, turn } = yield* fresh(whole.value, key)
        const preview = yield* previewFor(turn, key, left)
        const next = yield* answer(turn, key, preview, merged)
        return Either.isLeft(next) ? next.left : yield* deliver(turn, key, next.right, started, preview)
      })
      const result = yield* respond
      yield* bus.publish(BusEvent.TurnFinished({
        conversation: key,
        messageId: input.messageId,
        requestId: input.requestId,
        outcome: result._tag.toLowerCase(),
        durationMs: (yield* Clock.currentTimeMillis) - started
      }))
      return result
    }, Effect.scoped)

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
