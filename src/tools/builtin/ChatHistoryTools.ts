/**
 * `chat_history_info` and `chat_history_trim`: always on, and only ever about the conversation the
 * turn belongs to (the key comes from the tool context, never from the model).
 */
import { Effect, Option, Schema } from "effect"
import { HistoryStore } from "../../memory/HistoryStore.ts"
import * as Tool from "../Tool.ts"
import type { ToolGroup } from "../ToolRegistry.ts"

const iso = (ms: Option.Option<number>) => Option.getOrNull(Option.map(ms, (t) => new Date(t).toISOString()))

export const group: ToolGroup<HistoryStore> = Effect.map(HistoryStore, (history) => [
  Tool.make({
    name: "chat_history_info",
    description: "How much of this conversation is remembered: message and exchange counts, oldest and newest time.",
    parameters: Schema.Struct({}),
    run: (_, ctx) =>
      Effect.map(history.info(ctx.conversationKey), (info) => ({
        messages: info.messages,
        exchanges: info.turns,
        oldest: iso(info.oldest),
        newest: iso(info.newest)
      }))
  }),
  Tool.make({
    name: "chat_history_trim",
    description: "Forget older parts of this conversation, keeping only the latest exchanges (0 forgets everything).",
    parameters: Schema.Struct({
      keep_latest: Tool.param(Schema.Int.pipe(Schema.between(0, 10_000)), "How many of the latest exchanges to keep")
    }),
    run: (args, ctx) =>
      Effect.map(history.trim(ctx.conversationKey, args.keep_latest), (removed) => ({
        removed_messages: removed,
        kept_exchanges: args.keep_latest
      }))
  })
])
