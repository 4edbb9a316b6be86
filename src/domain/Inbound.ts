/**
 * What a turn answers: a message from a person (`InboundMessage`), or the prompt of a due
 * scheduled job (`ScheduledPrompt`). A person's message is the durable payload of the
 * conversation actor's mailbox, so it is a Schema; `messageId` is its primary key: the same id
 * sent twice is stored and answered once. A scheduled prompt is made inside the actor from a
 * stored job firing, and never stored itself.
 */
import { Data, PrimaryKey, Schema } from "effect"
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

/**
 * A file the person sent, by reference: the platform's file id and what it said about the file.
 * The bytes are fetched inside the turn (never stored in the mailbox).
 */
export const AttachmentKind = Schema.Literal("photo", "voice", "audio", "document")
export type AttachmentKind = typeof AttachmentKind.Type

export const Attachment = Schema.Struct({
  kind: AttachmentKind,
  /** Telegram's `file_id`. */
  fileId: Schema.String,
  /** Bytes, as the platform announced it (absent when it did not). */
  fileSize: Schema.optional(Schema.Number),
  mimeType: Schema.optional(Schema.String),
  fileName: Schema.optional(Schema.String)
})
export type Attachment = typeof Attachment.Type

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
  /** Photos, voice notes, documents; `text` is then their caption (possibly empty). */
  attachments: Schema.optionalWith(Schema.Array(Attachment), { default: () => [] }),
  /** Parts of one album share it: the album is answered as one turn. */
  mediaGroupId: Schema.optional(Schema.String)
}) {
  [PrimaryKey.symbol]() {
    return this.messageId
  }
}

/** A due job's instruction, run as a turn of the conversation it was scheduled in. */
export class ScheduledPrompt extends Data.TaggedClass("ScheduledPrompt")<{
  /** Unique per firing and attempt, so the turn ledger answers it once. */
  readonly messageId: string
  readonly conversation: ConversationRef
  /** The person who scheduled it, when known. */
  readonly userId?: string
  readonly text: string
  readonly receivedAt: number
  readonly requestId: string
  readonly job: ScheduledInfo
}> {}

export type TurnInput = InboundMessage | ScheduledPrompt

export const isScheduled = (input: TurnInput): input is ScheduledPrompt => input instanceof ScheduledPrompt
