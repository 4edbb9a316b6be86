/**
 * A message from a person (or, later, a due schedule) for one conversation. It is the durable
 * payload of the conversation actor's mailbox, so it is a Schema; `messageId` is its primary key:
 * the same id sent twice is stored and answered once.
 */
import { PrimaryKey, Schema } from "effect"
import { ConversationRef } from "./Conversation.ts"

export class InboundMessage extends Schema.Class<InboundMessage>("InboundMessage")({
  /** Unique within the conversation: Telegram's update_id, a console line's uuid. */
  messageId: Schema.String,
  conversation: ConversationRef,
  userId: Schema.optional(Schema.String),
  userName: Schema.optional(Schema.String),
  text: Schema.String,
  /** Epoch milliseconds when the channel received it. */
  receivedAt: Schema.Number,
  /** Correlation id carried by every log line of this message's turn. */
  requestId: Schema.String,
  /** The platform's id of the message, to reply to it (Telegram groups). */
  platformMessageId: Schema.optional(Schema.Number),
  isGroup: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {
  [PrimaryKey.symbol]() {
    return this.messageId
  }
}
