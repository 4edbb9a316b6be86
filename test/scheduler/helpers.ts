import { Effect } from "effect"
import { conversationKey } from "../../src/domain/Conversation.ts"
import type { ToolContext } from "../../src/tools/Tool.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import type { Harness } from "../support/Harness.ts"

/** The tool context of a person chatting on the console in `chatId`. */
export const contextOf = (chatId: string): ToolContext => ({
  ownerId: `console:user-${chatId}`,
  conversation: { channel: "console", chatId },
  conversationKey: conversationKey("console", chatId)
})

let calls = 0

/** Calls a tool as the model would, for the person of `chatId`; returns the parsed JSON answer. */
export const callTool = (h: Harness, chatId: string, name: string, args: Record<string, unknown>) =>
  h.use(
    Effect.flatMap(ToolRegistry, (registry) =>
      registry.execute(
        { id: `t${++calls}`, type: "function", function: { name, arguments: JSON.stringify(args) } },
        contextOf(chatId)
      ))
  ).pipe(Effect.map((text) => JSON.parse(text) as { ok: boolean; result?: any; error?: string; field?: string }))

export { eventually, pollUntil, realSleep } from "../support/Wait.ts"
