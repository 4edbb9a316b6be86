/**
 * Replies out to Telegram: the model's Markdown as Telegram HTML in chunks Telegram accepts
 * (rendered off the event loop by `FormatWorker`; plain text when that fails or takes too long),
 * our own notices as plain text. Within one delivery a chunk Telegram accepted is never sent again:
 * chunks go out in order, and only the failing chunk is retried.
 *
 * - "can't parse entities": that chunk is resent without `parse_mode` (and logged).
 * - 429: waited out by the API client, which holds that chat (and only it) for `retry_after`.
 * - Strangers' messages (refusals, pairing codes) go after allowed users' (`SendThrottle`).
 * - Network errors and 5xx: Telegram may or may not have taken the message; it is retried a
 *   bounded number of times (`sendRetry`), accepting a rare duplicate over a lost reply.
 * - 403 (blocked), 400 chat not found: a permanent `DeliveryError`; nothing is retried.
 */
import { Duration, Effect, Metric, Option, Ref } from "effect"
import { TelegramSettings } from "../../config/Config.ts"
import type { ConversationRef } from "../../domain/Conversation.ts"
import * as Metrics from "../../observability/Metrics.ts"
import {
  DeliveryError,
  type DeliveryReceipt,
  type OutboundMessage,
  type PreviewMemory,
  type PreviewTarget
} from "../Outbound.ts"
import { FormatWorker } from "./FormatWorker.ts"
import type { SendPriority } from "./SendThrottle.ts"
import {
  isEditImpossible,
  isEntityParseError,
  isNotModified,
  isPermanentForChat,
  type SendMessageOptions,
  TelegramApi,
  type TelegramError
} from "./TelegramApi.ts"
import { splitPlainText, splitTelegramHtml, visibleText } from "./TelegramFormat.ts"
import * as TelegramPreview from "./TelegramPreview.ts"
import { sendRetry } from "./TelegramSchedules.ts"
import { TelegramTimings } from "./TelegramTimings.ts"

/** One message to send: HTML when there is markup, and the plain text to fall back to. */
interface Chunk {
  readonly html?: string
  readonly plain: string
}

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/** Our own texts (errors, notices): no Markdown, split under the limit like any other. */
export const plainChunks = (text: string): Array<Chunk> =>
  splitTelegramHtml(escapeHtml(text)).map((html) => ({ plain: visibleText(html).trim() }))

const emptyAnswer = "(the answer had no text to show)"

export class TelegramSender extends Effect.Service<TelegramSender>()("minibot/TelegramSender", {
  scoped: Effect.gen(function*() {
    const api = yield* TelegramApi
    const timings = yield* TelegramTimings
    const tg = yield* TelegramSettings
    /** False once the Bot API server answered 404 to a draft: previews then edit a placeholder. */
    const draftsKnown = yield* Ref.make(true)
    let lastDraftId = Math.floor(Math.random() * 1_000_000)

    const formatter = yield* FormatWorker
    const ambiguousRetry = sendRetry(timings)

    /** The answer's Markdown as Telegram HTML, or its plain text when it cannot be rendered in time. */
    const renderAnswer = (text: string): Effect.Effect<Array<Chunk>> =>
      // Interruptible even where the delivery is not (see ConversationTurn): nothing is sent yet.
      Effect.interruptible(formatter.render(text)).pipe(
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logWarning(`the answer is sent as plain text: ${error.reason}`),
            splitPlainText(text).map((plain) => ({ plain }))
          )
        )
      )

    /** sendMessage, retried a few times when the outcome is unknown. */
    const sendWithRetries = (chatId: number, text: string, options: SendMessageOptions) =>
      api.sendMessage(chatId, text, options).pipe(Effect.retry(ambiguousRetry))

    const sendChunk = (chatId: number, chunk: Chunk, options: SendMessageOptions): Effect.Effect<void, TelegramError> =>
      Effect.gen(function*() {
        if (chunk.html !== undefined) {
          const sent = yield* Effect.either(sendWithRetries(chatId, chunk.html, { ...options, parseMode: "HTML" }))
          if (sent._tag === "Right") return
          if (!isEntityParseError(sent.left)) return yield* Effect.fail(sent.left)
          yield* Effect.logWarning(
            `Telegram rejected the HTML of a chunk (${sent.left.description}): resending it as plain text`
          )
          yield* Metric.increment(Metrics.telegramPlainFallbacks)
        }
        yield* sendWithRetries(chatId, chunk.plain, { ...options, parseMode: undefined })
      })

    /**
     * The first part of a reply put in a preview's placeholder (edited, retried like a send);
     * false when the placeholder is gone or can no longer be edited (then the part is sent).
     */
    const placeChunk = (
      chatId: number,
      placeholder: TelegramPreview.Placeholder,
      chunk: Chunk,
      priority: SendPriority
    ): Effect.Effect<boolean, TelegramError> => {
      // The last preview already shows exactly this part: no edit, no flood allowance spent.
      if (chunk.html !== undefined && chunk.html === placeholder.shows) return Effect.succeed(true)
      const edit = (text: string, parseMode: "HTML" | undefined) =>
        api.editMessageText(chatId, placeholder.messageId, text, { parseMode, priority }).pipe(
          Effect.retry(ambiguousRetry),
          Effect.as(true),
          Effect.catchIf(isNotModified, () => Effect.succeed(true)),
          Effect.catchIf(isEditImpossible, () => Effect.succeed(false))
        )
      if (chunk.html === undefined) return edit(chunk.plain, undefined)
      return edit(chunk.html, "HTML").pipe(
        Effect.catchIf(isEntityParseError, (error) =>
          Effect.logWarning(
            `Telegram rejected the HTML of a chunk (${error.description}): resending it as plain text`
          ).pipe(
            Effect.zipRight(Metric.increment(Metrics.telegramPlainFallbacks)),
            Effect.zipRight(edit(chunk.plain, undefined))
          ))
      )
    }

    const deliver = (
      message: OutboundMessage,
      priority: SendPriority,
      placeholder?: TelegramPreview.Placeholder
    ): Effect.Effect<DeliveryReceipt, DeliveryError> =>
      Effect.gen(function*() {
        const chatId = Number(message.conversation.chatId)
        if (!Number.isSafeInteger(chatId)) {
          return yield* new DeliveryError({
            channel: "telegram",
            permanent: true,
            reason: `${message.conversation.chatId} is not a Telegram chat id`
          })
        }
        let chunks: Array<Chunk> = message.kind === "answer"
          ? yield* renderAnswer(message.text)
          : plainChunks(message.text)
        if (chunks.length === 0) chunks = splitPlainText(message.text).map((plain) => ({ plain }))
        if (chunks.length === 0) chunks = [{ plain: emptyAnswer }]
        // In a group the first chunk answers the person's message, so it is clear who it is for.
        const replyTo = message.inReplyTo?.isGroup ? message.inReplyTo.platformMessageId : undefined
        const threadId = message.conversation.threadId
        for (const [index, chunk] of chunks.entries()) {
          const placed = index === 0 && placeholder !== undefined
            ? placeChunk(chatId, placeholder, chunk, priority)
            : Effect.succeed(false)
          yield* Effect.flatMap(placed, (done) =>
            done
              ? Effect.void
              : sendChunk(chatId, chunk, { replyTo: index === 0 ? replyTo : undefined, threadId, priority })).pipe(
              Effect.tapError((error) =>
                isPermanentForChat(error)
                  ? Effect.logWarning(`chat ${chatId} cannot receive messages from this bot: ${error.description}`)
                  : Effect.logWarning(
                    `a reply could not be sent (${index} of ${chunks.length} parts were): ${error.description}`
                  )
              ),
              Effect.mapError((error) =>
                new DeliveryError({
                  channel: "telegram",
                  permanent: isPermanentForChat(error),
                  reason: error.message,
                  cause: error
                })
              )
            )
        }
        return { chunks: chunks.length }
      }).pipe(Effect.annotateLogs({ component: "telegram", chat_id: message.conversation.chatId }))

    /** A reply to an allowed user. */
    const send = (message: OutboundMessage) => deliver(message, "user")

    /**
     * A live preview of the reply to `target` (see `TelegramPreview`), per `[channels.telegram]
     * streaming`: a draft in private chats while the server knows drafts, else a placeholder.
     */
    const preview = (target: PreviewTarget, memory: PreviewMemory) =>
      Effect.gen(function*() {
        const chatId = Number(target.conversation.chatId)
        if (tg.streaming === "off" || !Number.isSafeInteger(chatId)) return Option.none()
        // `draft` previews only where drafts exist: a group gets its reply whole, with no placeholder.
        if (tg.streaming === "draft" && chatId < 0) return Option.none()
        // A placeholder left by a crashed attempt is taken over: the reply will replace it.
        const left = Option.filter(Option.map(memory.left, Number), Number.isSafeInteger)
        const drafts = tg.streaming !== "edit" && chatId > 0 && Option.isNone(left) && (yield* Ref.get(draftsKnown))
        lastDraftId = lastDraftId >= 2 ** 31 - 1 ? 1 : lastDraftId + 1
        return Option.some(
          yield* TelegramPreview.open({
            api,
            target,
            chatId,
            mode: drafts ? "draft" : "edit",
            interval: Duration.millis(tg.streaming_interval_ms),
            format: formatter.render,
            draftId: lastDraftId,
            left: Option.getOrUndefined(left),
            remember: (messageId) => memory.remember(String(messageId)),
            draftsUnsupported: Ref.getAndSet(draftsKnown, false).pipe(
              Effect.flatMap((known) =>
                known
                  ? Effect.logWarning(
                    "this Bot API server does not know sendMessageDraft (404): reply previews edit a placeholder message instead"
                  )
                  : Effect.void
              )
            ),
            deliver: (message, placeholder) => deliver(message, "user", placeholder)
          })
        )
      })

    /** Shows "typing…" in the chat; failures only matter to the debug log. */
    const typing = (conversation: ConversationRef): Effect.Effect<void> =>
      api.sendTyping(Number(conversation.chatId), conversation.threadId).pipe(
        Effect.asVoid,
        Effect.catchAll((error) => Effect.logDebug(`typing indicator failed: ${error.description}`)),
        Effect.annotateLogs({ component: "telegram", chat_id: conversation.chatId })
      )

    /** One of our own short texts to a chat (command answers, notices; to a stranger, `priority: "stranger"`). */
    const notify = (
      conversation: ConversationRef,
      text: string,
      replyTo?: { readonly platformMessageId: number; readonly isGroup: boolean },
      priority: SendPriority = "user"
    ) =>
      deliver({
        conversation,
        text,
        kind: "notice",
        ...(replyTo === undefined
          ? {}
          : { inReplyTo: { messageId: "", platformMessageId: replyTo.platformMessageId, isGroup: replyTo.isGroup } })
      }, priority)

    return { send, typing, notify, preview } as const
  }),
  dependencies: [FormatWorker.Default]
}) {}
