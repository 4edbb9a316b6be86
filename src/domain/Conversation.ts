/**
 * A conversation is one chat on one channel. Its key names the actor that serializes its turns
 * and scopes its history: nothing of one conversation is ever read by another.
 */
import { Schema } from "effect"

export const ChannelName = Schema.Literal("telegram", "console", "http")
export type ChannelName = typeof ChannelName.Type

export const ConversationKey = Schema.String.pipe(Schema.brand("ConversationKey"))
export type ConversationKey = typeof ConversationKey.Type

export const conversationKey = (channel: ChannelName, chatId: string): ConversationKey =>
  ConversationKey.make(`${channel}:${chatId}`)

/** Where a reply goes. */
export const ConversationRef = Schema.Struct({
  channel: ChannelName,
  chatId: Schema.String,
  /** Forum topic of a Telegram group: replies must carry it too. */
  threadId: Schema.optional(Schema.Number)
})
export type ConversationRef = typeof ConversationRef.Type

export const keyOf = (ref: ConversationRef): ConversationKey => conversationKey(ref.channel, ref.chatId)
