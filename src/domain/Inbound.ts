/**
 * A message from a person (or a due scheduled job) for one conversation. It is the durable
 * payload of the conversation actor's mailbox, so it is a Schema; `messageId` is its primary key:
 * the same id sent twice is stored and answered once.
 */
import { PrimaryKey, Schema } from "effect"
import { ConversationRef } from "./Conversation.ts"

/** A due job's prompt, run as a turn of the conversation it was scheduled in. */
export const ScheduledInfo = Schema.Struct({
  jobId: Schema.String,
  /** The owner of the job (its notes, schedules...), as recorded when it was scheduled. */
  ownerId: Schema.String,
  /** Epoch ms the job was due. */
  dueAt: Schema.Number,
  /** How late the firing started, in ms (after downtime, or a retry). */
  lateMs: Schema.Number,
  /** False: run it silently (state and logs only). */
  notify: Schema.Boolean,
  /** The job's time zone, for saying when it was due. */
  timezone: Schema.String
})
export type ScheduledInfo = typeof ScheduledInfo.Type

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
  isGroup: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** `scheduled`: a due job's instruction (then `scheduled` is set), not something the person just wrote. */
  kind: Schema.optionalWith(Schema.Literal("message", "scheduled"), { default: () => "message" as const }),
  scheduled: Schema.optional(ScheduledInfo)
}) {
  [PrimaryKey.symbol]() {
    return this.messageId
  }
}
