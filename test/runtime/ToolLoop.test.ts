import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { repeatedToolText, toolLimitText } from "../../src/runtime/ConversationTurn.ts"
import { type FakeChatRequest, FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"

/** The tool messages the model received in a request. */
const toolMessages = (request: FakeChatRequest) =>
  request.messages.filter((m) => m.role === "tool").map((m) => ({
    id: m.tool_call_id,
    content: JSON.parse(String(m.content))
  }))

describe("the tool loop", () => {
  it.scopedLive("runs a tool call and sends the result back with its tool_call_id", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ toolCalls: [{ id: "call_calc", name: "calculator", arguments: { expression: "6 * 7" } }] })
      fake.script((req) => ({ content: `the answer is ${toolMessages(req)[0]?.content.result.value}` }))
      const h = yield* makeHarness(fake)
      yield* h.send("c", "what is six times seven?")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("c")).toEqual(["the answer is 42"])
      const second = fake.completions()[1]!.body
      expect(toolMessages(second)).toEqual([{
        id: "call_calc",
        content: { ok: true, result: { expression: "6 * 7", result: "42", value: 42 } }
      }])
      // Tools are offered with a JSON schema generated from their Schema.
      const offered = fake.completions()[0]!.body.tools!.map((t) => t.function.name)
      expect(offered).toEqual(
        expect.arrayContaining([
          "calculator",
          "current_datetime",
          "chat_history_info",
          "chat_history_trim",
          "memory_save"
        ])
      )
    }))

  it.scopedLive("runs two calls of one step and answers each id", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({
        toolCalls: [
          { id: "a", name: "calculator", arguments: { expression: "1 + 1" } },
          { id: "b", name: "current_datetime", arguments: { timezone: "Europe/Madrid" } }
        ]
      })
      fake.script(() => ({ content: "done" }))
      const h = yield* makeHarness(fake)
      yield* h.send("c", "two things")
      yield* h.waitForReplies(1)
      const results = toolMessages(fake.completions()[1]!.body)
      expect(results.map((r) => r.id)).toEqual(["a", "b"])
      expect(results[0]!.content).toMatchObject({ ok: true, result: { value: 2 } })
      expect(results[1]!.content.result.timezone).toBe("Europe/Madrid")
    }))

  it.scopedLive("invalid arguments become a field-level error for the model, and the turn finishes", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue(
        { toolCalls: [{ id: "x", name: "chat_history_trim", arguments: { keep_latest: "all" } }] },
        { toolCalls: [{ id: "y", name: "no_such_tool", arguments: {} }] }
      )
      fake.script(() => ({ content: "sorry" }))
      const h = yield* makeHarness(fake)
      yield* h.send("c", "trim please")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("c")).toEqual(["sorry"])
      const [invalid] = toolMessages(fake.completions()[1]!.body)
      expect(invalid!.content).toMatchObject({ ok: false, field: "keep_latest" })
      const unknown = toolMessages(fake.completions()[2]!.body)[1]
      expect(unknown!.content).toMatchObject({ ok: false })
      expect(unknown!.content.error).toMatch(/no_such_tool/)
    }))

  it.scopedLive("stops at max_tool_iterations with a short explanation", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      let n = 0
      fake.script(() => ({ toolCalls: [{ name: "calculator", arguments: { expression: `${++n} + 1` } }] }))
      const h = yield* makeHarness(fake, { llm: { max_tool_iterations: 3 } })
      yield* h.send("c", "loop forever")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("c")).toEqual([toolLimitText(3)])
      expect(fake.completions()).toHaveLength(4)
    }))

  it.scopedLive("stops a model that repeats the same call with the same result", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ toolCalls: [{ name: "calculator", arguments: { expression: "2 + 2" } }] }))
      const h = yield* makeHarness(fake)
      yield* h.send("c", "again and again")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("c")).toEqual([repeatedToolText])
      expect(fake.completions()).toHaveLength(2)
    }))

  it.scopedLive("tool steps are remembered in history without breaking call/result pairs", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ toolCalls: [{ id: "call_1", name: "calculator", arguments: { expression: "2 ^ 10" } }] })
      fake.script((req) => ({ content: `reply to ${lastUserContent(req)}` }))
      const h = yield* makeHarness(fake, { llm: { context: { history_window: 1 } } })
      yield* h.send("c", "power")
      yield* h.waitForReplies(1)
      yield* h.send("c", "next")
      yield* h.waitForReplies(2)
      // The fake rejects (400) any tool message not paired with its call: this request passed.
      const third = fake.completions()[2]!
      expect(third.status).toBe(200)
      expect(third.body.messages.map((m) => m.role)).toEqual([
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user"
      ])
    }))

  it.scopedLive("user B can never reach user A's notes, whatever the model sends", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake)
      fake.enqueue({ toolCalls: [{ name: "memory_save", arguments: { title: "Bank PIN", data: "1234" } }] })
      fake.script(() => ({ content: "ok" }))
      yield* h.send("alice", "remember my PIN")
      yield* h.waitForReplies(1)
      expect(toolMessages(fake.completions()[1]!.body)[0]!.content.ok).toBe(true)

      fake.reset()
      fake.enqueue({
        toolCalls: [
          { id: "g", name: "memory_get", arguments: { title: "Bank PIN" } },
          { id: "l", name: "memory_list", arguments: {} },
          { id: "s", name: "memory_search", arguments: { query: "PIN" } },
          { id: "d", name: "memory_delete", arguments: { title: "Bank PIN" } },
          { id: "o", name: "memory_get", arguments: { title: "Bank PIN", owner_id: "console:user-alice" } }
        ]
      })
      fake.script(() => ({ content: "nothing" }))
      yield* h.send("bob", "read alice's PIN")
      yield* h.waitForReplies(2)
      const results = toolMessages(fake.completions()[1]!.body)
      expect(JSON.stringify(results)).not.toContain("1234")
      const byId = Object.fromEntries(results.map((r) => [r.id, r.content]))
      expect(byId.g.result.found).toBe(false)
      expect(byId.l.result.titles ?? byId.l.result.notes ?? []).toEqual([])
      expect(byId.d.result.deleted).toBe(false)
      expect(byId.o).toMatchObject({ ok: false, field: "owner_id" })

      // Alice still has it.
      fake.reset()
      fake.enqueue({ toolCalls: [{ name: "memory_get", arguments: { title: "bank pin" } }] })
      fake.script(() => ({ content: "here" }))
      yield* h.send("alice", "my PIN?")
      yield* h.waitForReplies(3)
      expect(JSON.stringify(toolMessages(fake.completions()[1]!.body))).toContain("1234")
    }))
})
