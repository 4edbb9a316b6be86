import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import * as Chat from "../../src/domain/ChatMessage.ts"
import { Llm, LlmError, userMessage } from "../../src/llm/Llm.ts"
import * as Scripted from "../support/ScriptedLlm.ts"
import { ScriptedLlm } from "../support/ScriptedLlm.ts"

const ask = (text: string) => Effect.flatMap(Llm, (llm) => llm.complete({ messages: [Chat.user(text)] }))

describe("ScriptedLlm", () => {
  it.effect("answers from its script in order and records every request", () =>
    Effect.gen(function*() {
      const first = yield* ask("hi")
      expect(first.content).toBe("hello")
      expect(first.toolCalls).toEqual([])

      const second = yield* ask("what time is it?")
      expect(second.finishReason).toBe("tool_calls")
      expect(second.toolCalls).toEqual([
        { id: "call_0", type: "function", function: { name: "get_time", arguments: "{\"tz\":\"UTC\"}" } }
      ])

      const third = yield* Effect.flip(ask("again"))
      expect(third).toBeInstanceOf(LlmError)
      expect(third.status).toBe(401)
      expect(userMessage(third)).toContain("llm.api_key")

      const requests = yield* Effect.flatMap(ScriptedLlm, (scripted) => scripted.requests)
      expect(requests.map((r) => r.messages)).toEqual([
        [Chat.user("hi")],
        [Chat.user("what time is it?")],
        [Chat.user("again")]
      ])
    }).pipe(
      Effect.provide(ScriptedLlm.layer(
        Scripted.text("hello"),
        Scripted.toolCalls([{ name: "get_time", arguments: { tz: "UTC" } }]),
        Scripted.failure("auth", { status: 401 })
      ))
    ))

  it.effect("takes more answers while running, and dies on a request it has no answer for", () =>
    Effect.gen(function*() {
      const scripted = yield* ScriptedLlm
      yield* scripted.push(Scripted.text("late"))
      expect((yield* ask("one")).content).toBe("late")
      const exit = yield* Effect.exit(ask("two"))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      if (Exit.isFailure(exit)) expect(Cause.pretty(exit.cause)).toContain("no answer left")
    }).pipe(Effect.provide(ScriptedLlm.layer())))
})
