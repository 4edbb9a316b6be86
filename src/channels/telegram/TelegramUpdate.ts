/**
 * The Telegram updates this channel accepts, as a Schema: only the fields intake reads are
 * checked, anything else in an update passes through unread. An update that does not match is
 * logged with the field that is wrong and skipped (never confirmed as a person's message).
 */
import { Schema } from "effect"

export const TgUser = Schema.Struct({
  id: Schema.Number,
  is_bot: Schema.optional(Schema.Boolean),
  first_name: Schema.optional(Schema.String),
  username: Schema.optional(Schema.String)
})

/** Message kinds without text that deserve a notice in a private chat. */
export const mediaKinds = [
  "photo",
  "sticker",
  "voice",
  "video",
  "video_note",
  "audio",
  "document",
  "animation",
  "location",
  "contact",
  "poll",
  "venue",
  "dice"
] as const

/** A file as the Bot API describes it (a photo size, a voice note, a document...). */
export const TgFile = Schema.Struct({
  file_id: Schema.String,
  file_size: Schema.optional(Schema.Number),
  mime_type: Schema.optional(Schema.String),
  file_name: Schema.optional(Schema.String),
  width: Schema.optional(Schema.Number)
})
export type TgFile = typeof TgFile.Type

/** The media kinds read (the others get a notice): their file descriptions are checked. */
const readMedia = {
  photo: Schema.optional(Schema.Array(TgFile)),
  voice: Schema.optional(TgFile),
  audio: Schema.optional(TgFile),
  document: Schema.optional(TgFile)
}

export const TgMessage = Schema.Struct({
  message_id: Schema.Number,
  chat: Schema.Struct({ id: Schema.Number, type: Schema.String }),
  from: Schema.optional(TgUser),
  text: Schema.optional(Schema.String),
  caption: Schema.optional(Schema.String),
  message_thread_id: Schema.optional(Schema.Number),
  is_topic_message: Schema.optional(Schema.Boolean),
  reply_to_message: Schema.optional(Schema.Struct({ message_id: Schema.Number, from: Schema.optional(TgUser) })),
  ...Object.fromEntries(mediaKinds.map((kind) => [kind, Schema.optional(Schema.Unknown)])) as {
    [K in typeof mediaKinds[number]]: Schema.optional<typeof Schema.Unknown>
  },
  ...readMedia,
  media_group_id: Schema.optional(Schema.String)
})
export type TgMessage = typeof TgMessage.Type

/** `update_id` keys the mailbox and the polling offset: a safe positive integer, or the update is refused. */
export const UpdateId = Schema.Int.pipe(Schema.positive())

export const TgUpdate = Schema.Struct({
  update_id: UpdateId,
  message: Schema.optional(TgMessage)
})
export type TgUpdate = typeof TgUpdate.Type

export const decodeUpdate = Schema.decodeUnknownEither(TgUpdate)

/** Update kinds asked from Telegram: messages, plus the few others worth a log line. */
export const allowedUpdates = ["message", "edited_message", "callback_query", "my_chat_member"] as const

/** What kind of update this is (`edited_message`, `callback_query`...), for the log line of an ignored one. */
export const kindOf = (raw: unknown) =>
  raw !== null && typeof raw === "object" ? Object.keys(raw).find((key) => key !== "update_id") ?? "empty" : typeof raw
