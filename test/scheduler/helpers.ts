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

export const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

/** Polls `check` (real time) until it holds. */
export const eventually = (check: () => boolean, what: string, timeoutMs = 10_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  })

/** Runs `effect` every 20 ms (real time) until its value satisfies `done`; returns that value. */
export const pollUntil = <A, E>(effect: Effect.Effect<A, E>, done: (a: A) => boolean, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* effect
      if (done(value)) return value
      if (Date.now() > deadline) return yield* Effect.dieMessage(`pollUntil: still ${JSON.stringify(value)}`)
      yield* realSleep(20)
    }
  })
