/**
 * Messages as the LLM sees them (the OpenAI chat format, which every compatible server speaks).
 * History stores exactly these, so a later turn can replay tool calls and their results.
 */
import { Schema } from "effect"

export const ToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    /** JSON text, as the model produced it (it may be invalid JSON). */
    arguments: Schema.String
  })
})
export type ToolCall = typeof ToolCall.Type

export const SystemMessage = Schema.TaggedStruct("system", { content: Schema.String })
export const UserMessage = Schema.TaggedStruct("user", { content: Schema.String })
export const AssistantMessage = Schema.TaggedStruct("assistant", {
  content: Schema.NullOr(Schema.String),
  tool_calls: Schema.optionalWith(Schema.Array(ToolCall), { default: () => [] })
})
export const ToolMessage = Schema.TaggedStruct("tool", {
  tool_call_id: Schema.String,
  content: Schema.String
})

/** `_tag` is the OpenAI `role`. */
export const ChatMessage = Schema.Union(SystemMessage, UserMessage, AssistantMessage, ToolMessage)
export type ChatMessage = typeof ChatMessage.Type
export type Role = ChatMessage["_tag"]

export const system = (content: string): ChatMessage => SystemMessage.make({ content })
export const user = (content: string): ChatMessage => UserMessage.make({ content })
export const assistant = (content: string | null, tool_calls: ReadonlyArray<ToolCall> = []): ChatMessage =>
  AssistantMessage.make({ content, tool_calls })
export const toolResult = (tool_call_id: string, content: string): ChatMessage =>
  ToolMessage.make({ tool_call_id, content })

/**
 * The person's message of the current turn with the pictures the model is shown (data URLs).
 * Only ever sent, never stored: the history keeps the plain user message, which refers to them.
 */
export type UserWithImages = typeof UserMessage.Type & { readonly images: ReadonlyArray<string> }

export const userWithImages = (content: string, images: ReadonlyArray<string>): UserWithImages => ({
  ...UserMessage.make({ content }),
  images
})

/** The pictures attached to a message of a request (none for anything but `userWithImages`). */
export const imagesOf = (message: ChatMessage): ReadonlyArray<string> =>
  "images" in message && Array.isArray(message.images) ? message.images as ReadonlyArray<string> : []

/** A function tool offered to the model (the `tools` entry of a chat completion request). */
export interface ToolSpec {
  readonly name: string
  readonly description: string
  /** JSON Schema of the arguments object. */
  readonly parameters: Record<string, unknown>
}
