/**
 * The outbound side of every channel: a channel registers a sender for its name, the turn hands
 * its reply here. Redelivered turns can run before a channel has finished starting, so delivery
 * waits a while for the sender to appear.
 */
import { Data, Deferred, Duration, Effect } from "effect"
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

export interface ChannelSender {
  readonly send: (message: OutboundMessage) => Effect.Effect<DeliveryReceipt, DeliveryError>
  /** Shows that an answer is being prepared ("typing…"); called every few seconds during a turn. */
  readonly typing?: (conversation: ConversationRef) => Effect.Effect<void>
}

const registrationWait = Duration.seconds(30)

export class Outbound extends Effect.Service<Outbound>()("minibot/Outbound", {
  effect: Effect.sync(() => {
    const senders = new Map<ChannelName, Deferred.Deferred<ChannelSender>>()
    const slot = (channel: ChannelName) =>
      Effect.gen(function*() {
        const existing = senders.get(channel)
        if (existing) return existing
        const created = yield* Deferred.make<ChannelSender>()
        senders.set(channel, created)
        return created
      })

    const register = (channel: ChannelName, sender: ChannelSender) =>
      Effect.acquireRelease(
        Effect.flatMap(slot(channel), (d) => Deferred.succeed(d, sender)),
        () => Effect.sync(() => senders.delete(channel))
      )

    const senderFor = (channel: ChannelName) =>
      Effect.flatMap(slot(channel), Deferred.await).pipe(
        Effect.timeoutFail({
          duration: registrationWait,
          onTimeout: () => new DeliveryError({ channel, permanent: false, reason: "channel is not running" })
        })
      )

    const deliver = (message: OutboundMessage) =>
      Effect.flatMap(senderFor(message.conversation.channel), (sender) => sender.send(message))

    const typing = (conversation: ConversationRef) =>
      Effect.flatMap(senderFor(conversation.channel), (sender) => sender.typing?.(conversation) ?? Effect.void).pipe(
        Effect.ignore
      )

    return { register, deliver, typing } as const
  })
}) {}
