/**
 * The outbound side of every channel: the turn hands its reply here, and it goes to the sender of
 * the conversation's channel.
 */
import { Context, Data, Effect, Option, type Scope } from "effect"
import type { ChannelName, ConversationRef } from "../domain/Conversation.ts"

export interface OutboundMessage {
  readonly conversation: ConversationRef
  readonly text: string
  /** `error` and `notice` texts are ours, not the model's: channels send them without Markdown. */
  readonly kind: "answer" | "error" | "notice"
  /** The inbound message this answers. */
  readonly inReplyTo?: {
    readonly messageId: string
    readonly platformMessageId?: number | undefined
    readonly isGroup: boolean
  }
}

export interface DeliveryReceipt {
  readonly chunks: number
}

export class DeliveryError extends Data.TaggedError("DeliveryError")<{
  readonly channel: ChannelName
  /** Retrying never helps (blocked by the user, chat gone, bad token). */
  readonly permanent: boolean
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.channel}: ${this.reason}`
  }
}

/** A file the person sent could not be fetched; `message` is safe to log (never a URL with a token). */
export class FileFetchError extends Data.TaggedError("FileFetchError")<{
  /**
   * `too_big`: over the platform's download limit; `over_limit`: over the caller's `maxBytes`;
   * `unavailable`: refused, gone, or no answer; `not_supported`: the channel has no files.
   */
  readonly reason: "too_big" | "over_limit" | "unavailable" | "not_supported"
  readonly detail: string
}> {
  override get message() {
    return `file not fetched (${this.reason}): ${this.detail}`
  }
}

/** The bytes of a file as the platform served them, and its path there (for the file's type). */
export interface FetchedFile {
  readonly bytes: Uint8Array
  readonly path: string
}

/** What a reply's live preview shows: the model's Markdown so far, or our own status line. */
export type PreviewUpdate =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "status"; readonly text: string }

/**
 * A reply shown while it is written (on Telegram a draft, or a placeholder message edited in
 * place). `show` never waits: the channel paces the updates, and one not yet shown is replaced
 * by a newer one, never queued. `deliver` ends the previews and sends the final reply exactly as
 * `send` would (it may take the placeholder's place). When the preview's scope closes without a
 * `deliver`, whatever the preview left in the chat is removed.
 */
export interface ReplyPreview {
  readonly show: (update: PreviewUpdate) => Effect.Effect<void>
  readonly deliver: (message: OutboundMessage) => Effect.Effect<DeliveryReceipt, DeliveryError>
}

/** Where a preview goes: the conversation, and the message it answers. */
export type PreviewTarget = Pick<OutboundMessage, "conversation" | "inReplyTo">

/**
 * What a preview left in the chat survives a crash through the turn: `remember` stores the
 * channel's reference to it (a placeholder's message id) before the turn goes on, and the turn
 * redone after a restart opens its preview with that reference as `left`, so its reply replaces
 * what the crashed attempt left rather than appearing below a half answer.
 */
export interface PreviewMemory {
  /** Read with the turn's record, in the same query (a read of its own would cost every turn a statement). */
  readonly left: Option.Option<string>
  readonly remember: (reference: string) => Effect.Effect<void>
}

export interface ChannelSender {
  readonly send: (message: OutboundMessage) => Effect.Effect<DeliveryReceipt, DeliveryError>
  /** Shows that an answer is being prepared ("typing…"); called every few seconds during a turn. */
  readonly typing?: (conversation: ConversationRef) => Effect.Effect<void>
  /** The bytes of a file a person sent on this channel (by the platform's file id), at most `maxBytes`. */
  readonly fetchFile?: (fileId: string, maxBytes: number) => Effect.Effect<FetchedFile, FileFetchError>
  /** A live preview of the reply to `target`; `None` when the channel does not stream (or is set not to). */
  readonly preview?: (
    target: PreviewTarget,
    memory: PreviewMemory
  ) => Effect.Effect<Option.Option<ReplyPreview>, never, Scope.Scope>
}

/*
 * Each channel contributes its sender under its own tag, built from its API client alone, before
 * the actors: a turn redelivered at start-up finds its sender at once, and on shutdown senders
 * are released after the actors, so a reply finished in the turns' grace period still goes out.
 * A channel that is not enabled contributes `notEnabled`.
 */
export class TelegramOut extends Context.Tag("minibot/Outbound/telegram")<TelegramOut, ChannelSender>() {}
export class ConsoleOut extends Context.Tag("minibot/Outbound/console")<ConsoleOut, ChannelSender>() {}

/** The sender of a channel that is not enabled in this process. */
export const notEnabled = (channel: ChannelName): ChannelSender => ({
  send: () => Effect.fail(new DeliveryError({ channel, permanent: true, reason: "channel is not enabled" }))
})

export class Outbound extends Effect.Service<Outbound>()("minibot/Outbound", {
  effect: Effect.gen(function*() {
    const senders: Record<ChannelName, ChannelSender> = {
      telegram: yield* TelegramOut,
      console: yield* ConsoleOut,
      http: notEnabled("http")
    }

    const deliver = (message: OutboundMessage) => senders[message.conversation.channel].send(message)

    const typing = (conversation: ConversationRef) =>
      senders[conversation.channel].typing?.(conversation) ?? Effect.void

    const fetchFile = (conversation: ConversationRef, fileId: string, maxBytes: number) =>
      senders[conversation.channel].fetchFile?.(fileId, maxBytes) ??
        Effect.fail(new FileFetchError({ reason: "not_supported", detail: `${conversation.channel} has no files` }))

    const preview = (target: PreviewTarget, memory: PreviewMemory) =>
      senders[target.conversation.channel].preview?.(target, memory) ?? Effect.succeed(Option.none<ReplyPreview>())

    return { deliver, typing, fetchFile, preview } as const
  })
}) {}
