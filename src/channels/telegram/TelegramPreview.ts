/**
 * A reply shown on Telegram while the model writes it: a draft (`sendMessageDraft`, private chats,
 * Bot API 9.5+) or a placeholder message edited in place (`editMessageText`: groups, forum topics,
 * `streaming = "edit"`, and servers that answer 404 to drafts).
 *
 * The guarantees, enforced here and in `SendThrottle.tryTakeSpare`:
 *
 * - Paced: at most one update per `streaming_interval_ms`; an update not yet shown is replaced by
 *   a newer one (a sliding queue of one), never queued behind it. The first waits 200 ms from
 *   the turn's start: a reply ready sooner has no preview.
 * - Flood limits: a preview goes only when its chat is not held by a 429 and has a token to
 *   spare; otherwise it is skipped and the newest update is tried after the interval. The final
 *   reply always keeps its token, so previews never delay it.
 * - The final reply is exactly the reply `TelegramSender` would send: a draft is ephemeral, so
 *   the final text is sent with `sendMessage`; a placeholder becomes the reply's first part
 *   (edited into it: no second notification, the reply stays right under the question, one
 *   message per part as without previews). A preview closed without a final reply (the turn
 *   crashed) deletes its placeholder.
 * - Markdown is rendered as in the final reply; an answer whose code block is still open is shown
 *   as plain text for that update, as Telegram refuses HTML with an unclosed tag.
 */
import { type Context, Duration, Effect, Fiber, Option, Queue, Ref, type Scope } from "effect"
import type {
  DeliveryError,
  DeliveryReceipt,
  OutboundMessage,
  PreviewTarget,
  PreviewUpdate,
  ReplyPreview
} from "../Outbound.ts"
import {
  isEntityParseError,
  isNotModified,
  isUnknownMethod,
  type SendMessageOptions,
  type TelegramApi,
  type TelegramError
} from "./TelegramApi.ts"
import { type TelegramChunk, telegramMessageLimit } from "./TelegramFormat.ts"

/** One preview as Telegram gets it. */
export interface RenderedPreview {
  readonly text: string
  readonly parseMode?: "HTML"
}

const fence = /^ {0,3}(`{3,}|~{3,})/

/** True while a fenced code block of the Markdown is open (its closing fence not written yet). */
export const hasOpenFence = (markdown: string): boolean => {
  let open: string | undefined
  for (const line of markdown.split("\n")) {
    const marker = fence.exec(line)?.[1]
    if (marker === undefined) continue
    if (open === undefined) open = marker
    else if (marker[0] === open[0] && marker.length >= open.length && line.trim() === marker) open = undefined
  }
  return open !== undefined
}

/** The last `limit` UTF-16 code units of a plain text, never starting inside a surrogate pair. */
const tail = (text: string, limit = telegramMessageLimit): string => {
  const trimmed = text.trim()
  if (trimmed.length <= limit) return trimmed
  const start = trimmed.length - limit
  const code = trimmed.charCodeAt(start)
  return trimmed.slice(code >= 0xdc00 && code <= 0xdfff ? start + 1 : start)
}

/** Renders Markdown as Telegram HTML chunks (the sender's worker: model output never renders on the event loop). */
export type PreviewFormat = (markdown: string) => Effect.Effect<ReadonlyArray<TelegramChunk>, unknown>

/**
 * What a preview shows: the part of the answer being written (its last message-sized part, as
 * Telegram HTML), plain text while a code block is open or when the answer cannot be rendered, our
 * status line as it is. `undefined` when there is nothing visible yet.
 */
export const renderPreview = (
  update: PreviewUpdate,
  format: PreviewFormat
): Effect.Effect<RenderedPreview | undefined> => {
  const plain = (): RenderedPreview | undefined => {
    const text = tail(update.text)
    return text === "" ? undefined : { text }
  }
  if (update.kind === "status" || hasOpenFence(update.text)) return Effect.succeed(plain())
  return format(update.text).pipe(
    Effect.map((chunks): RenderedPreview | undefined => {
      const last = chunks[chunks.length - 1]
      return last === undefined ? undefined : { text: last.html, parseMode: "HTML" }
    }),
    Effect.orElseSucceed(plain)
  )
}

type Api = Context.Tag.Service<typeof TelegramApi>

export interface PreviewOptions {
  readonly api: Api
  readonly target: PreviewTarget
  readonly chatId: number
  /** A draft when the chat and the server allow it; a placeholder edited in place otherwise. */
  readonly mode: "draft" | "edit"
  readonly interval: Duration.Duration
  readonly format: PreviewFormat
  /** Non-zero, one per reply: Telegram animates the updates of one draft. */
  readonly draftId: number
  /** The placeholder a crashed attempt of this turn left in the chat: taken over, not sent again. */
  readonly left: number | undefined
  /** Stores a new placeholder's id with the turn, so that a restart can take it over. */
  readonly remember: (messageId: number) => Effect.Effect<void>
  /** Called once if the server does not know `sendMessageDraft`: later replies start in edit mode. */
  readonly draftsUnsupported: Effect.Effect<void>
  /** The sender's delivery of the final reply, into the placeholder when there is one. */
  readonly deliver: (
    message: OutboundMessage,
    placeholder: Placeholder | undefined
  ) => Effect.Effect<DeliveryReceipt, DeliveryError>
}

/** A preview's placeholder message, and the HTML it shows now (its final edit is skipped when equal). */
export interface Placeholder {
  readonly messageId: number
  readonly shows: string | undefined
}

type Shown = "shown" | "skipped"

/**
 * No preview before this from the turn's start: a model that answers within it (a short answer
 * from a fast or local model) gets its reply whole, with no draft, no placeholder and nothing
 * rendered twice, and a streamed answer still shows within a fraction of a second of its first
 * words. A group's placeholder is one of its 20 messages a minute, but it is not an extra one: it
 * becomes the reply's first part, and it goes only with a token to spare.
 */
const firstPreviewAfter = Duration.millis(200)

const firstAfter = (interval: Duration.Duration) => Duration.min(interval, firstPreviewAfter)

/** Opens a preview in the current scope; closing the scope stops it (and removes an orphaned placeholder). */
export const open = (options: PreviewOptions): Effect.Effect<ReplyPreview, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { api, chatId } = options
    const updates = yield* Queue.sliding<PreviewUpdate>(1)
    const placeholder = yield* Ref.make<number | undefined>(options.left)
    const finished = yield* Ref.make(false)
    let mode = options.mode
    let lastShown: string | undefined
    /** The HTML the placeholder shows (undefined when it shows plain text). */
    let placeholderHtml: string | undefined
    const threadId = options.target.conversation.threadId
    const inGroup = options.target.inReplyTo?.isGroup === true
    const sendOptions: SendMessageOptions = {
      threadId,
      replyTo: inGroup ? options.target.inReplyTo?.platformMessageId : undefined
    }

    /** One call for one rendering; `None` when the throttle had no token to spare. */
    const call = (rendered: RenderedPreview): Effect.Effect<Option.Option<unknown>, TelegramError> =>
      Effect.gen(function*() {
        const parse = { parseMode: rendered.parseMode }
        if (mode === "draft") {
          return yield* api.sendDraft(chatId, options.draftId, rendered.text, { ...parse, threadId })
        }
        const existing = yield* Ref.get(placeholder)
        if (existing !== undefined) {
          return yield* api.editPreview(chatId, existing, rendered.text, parse).pipe(
            Effect.catchIf(isNotModified, () => Effect.succeed(Option.some(true)))
          )
        }
        // Not interruptible: a placeholder Telegram made must be known (and stored with the turn),
        // to be replaced or deleted, even after a crash.
        return yield* api.sendPlaceholder(chatId, rendered.text, { ...sendOptions, ...parse }).pipe(
          Effect.tap(Option.match({
            onNone: () => Effect.void,
            onSome: (message) =>
              Effect.zipRight(Ref.set(placeholder, message.message_id), options.remember(message.message_id))
          })),
          Effect.uninterruptible
        )
      })

    const showOnce = (rendered: RenderedPreview): Effect.Effect<Shown, TelegramError> =>
      call(rendered).pipe(
        Effect.map(Option.match({ onNone: (): Shown => "skipped", onSome: (): Shown => "shown" })),
        Effect.catchIf(
          (error) => mode === "draft" && isUnknownMethod(error),
          () =>
            Effect.gen(function*() {
              mode = "edit"
              yield* options.draftsUnsupported
              return yield* showOnce(rendered)
            })
        ),
        Effect.catchIf(
          (error) => rendered.parseMode !== undefined && isEntityParseError(error),
          () => showOnce({ text: tail(rendered.text.replace(/<[^>]*>/g, "")) })
        )
      )

    const show = (update: PreviewUpdate): Effect.Effect<Shown> =>
      Effect.flatMap(renderPreview(update, options.format), (rendered) => {
        const key = rendered === undefined ? undefined : `${rendered.parseMode ?? ""}\u0000${rendered.text}`
        if (rendered === undefined || key === lastShown) return Effect.succeed<Shown>("shown")
        return showOnce(rendered).pipe(
          Effect.tap((shown) =>
            Effect.sync(() => {
              if (shown !== "shown") return
              lastShown = key
              if (mode === "edit") placeholderHtml = rendered.parseMode === "HTML" ? rendered.text : undefined
            })
          ),
          Effect.catchAll((error) =>
            Effect.as(Effect.logDebug(`a reply preview was not shown: ${error.description}`), "shown" as const)
          )
        )
      })

    // The newest update, at most one per interval; a skipped one is tried again unless a newer came.
    // None before `firstAfter` from the turn's start: a reply ready by then is sent whole, with no
    // preview at all (no draft or placeholder, nothing rendered twice).
    const worker = Effect.gen(function*() {
      yield* Effect.sleep(firstAfter(options.interval))
      let pending: PreviewUpdate | undefined
      for (;;) {
        const first = pending ?? (yield* Queue.take(updates))
        const newest = Option.getOrElse(yield* Queue.poll(updates), () => first)
        pending = (yield* show(newest)) === "skipped" ? newest : undefined
        yield* Effect.sleep(options.interval)
      }
    })
    const fiber = yield* Effect.forkScoped(worker)

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Fiber.interrupt(fiber)
        const left = yield* Ref.get(placeholder)
        if (left === undefined || (yield* Ref.get(finished))) return
        yield* api.deleteMessage(chatId, left).pipe(
          Effect.catchAll((error) => Effect.logDebug(`a reply preview could not be removed: ${error.description}`))
        )
      })
    )

    return {
      show: (update) => Effect.asVoid(Queue.offer(updates, update)),
      deliver: (message) =>
        Effect.gen(function*() {
          // An edit or draft in flight is cancelled: the final reply does not wait for it.
          yield* Fiber.interrupt(fiber)
          yield* Ref.set(finished, true)
          const messageId = yield* Ref.get(placeholder)
          return yield* options.deliver(
            message,
            messageId === undefined ? undefined : { messageId, shows: placeholderHtml }
          )
        })
    } satisfies ReplyPreview
  }).pipe(Effect.annotateLogs({ component: "telegram", chat_id: options.target.conversation.chatId }))
