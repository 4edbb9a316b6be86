import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"

describe("limits of one turn", () => {
  it.scopedLive("1,000 tool calls in one answer: max_calls_per_step run, the rest dropped, and the turn answers", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({
        toolCalls: Array.from({ length: 1000 }, (_, i) => ({
          id: `c${i}`,
          name: "calculator",
          arguments: { expression: `${i} + 1` }
        }))
      })
      fake.script(() => ({ content: "done" }))
      const h = yield* makeHarness(fake, { config: { tools: { max_calls_per_step: 16 } } })
      yield* h.send("c", "add all the things")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("c")).toEqual(["done"])
      const second = fake.completions()[1]!.body.messages
      const asked = second.find((m) => m.role === "assistant")!
      expect(asked.tool_calls!.map((c) => c.id)).toEqual(Array.from({ length: 16 }, (_, i) => `c${i}`))
      expect(second.filter((m) => m.role === "tool").map((m) => m.tool_call_id)).toEqual(
        Array.from({ length: 16 }, (_, i) => `c${i}`)
      )
      expect(h.logs.some((line) => line.includes("tool calls over max_calls_per_step dropped"))).toBe(true)

      // The next turn carries the capped step in its history, not a thousand messages.
      yield* h.send("c", "and now?")
      yield* h.waitForReplies(2)
      expect(fake.completions()[2]!.body.messages.length).toBeLessThan(40)
    }))

  it.scopedLive("a message over max_input_chars reaches the model cut, with a note saying so", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script((request) => ({ content: `read ${lastUserContent(request).length} characters` }))
      const h = yield* makeHarness(fake, { config: {} })
      yield* h.send("c", "x".repeat(100_000))
      yield* h.waitForReplies(1)
      const received = lastUserContent(fake.completions()[0]!.body)
      expect(received.startsWith("x".repeat(20_000) + "\n\n[The message was cut here")).toBe(true)
      expect(received).toContain("100000 characters and only the first 20000 are read ([llm.context] max_input_chars)")
      expect(received.length).toBeLessThan(20_200)
      expect(h.repliesTo("c")).toEqual([`read ${received.length} characters`])
    }))
})
