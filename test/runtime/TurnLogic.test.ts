/**
 * Turn logic and the tool loop over swapped layers (TurnKit): a scripted model, history in
 * memory, SQLite in memory, a recording sender. Actors, HTTP and processes are tested elsewhere.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger } from "effect"
import type * as Chat from "../../src/domain/ChatMessage.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import type { CompletionRequest } from "../../src/llm/Llm.ts"
import { userMessage } from "../../src/llm/Llm.ts"
import { HistoryStore } from "../../src/memory/HistoryStore.ts"
import * as Logging from "../../src/observability/Logging.ts"
import { Actors } from "../../src/runtime/Actors.ts"
import { repeatedToolText, stoppedText, toolLimitText, TurnResult } from "../../src/runtime/ConversationTurn.ts"
import { TurnLedger } from "../../src/runtime/TurnLedger.ts"
import * as Scripted from "../support/ScriptedLlm.ts"
import { ScriptedLlm } from "../support/ScriptedLlm.ts"
import { message, requests, run, scheduled, Sent, turnKit } from "../support/TurnKit.ts"

const contents = (request: CompletionRequest) => request.messages.map((m) => [m._tag, m.content] as const)

/** The tool messages of a request, their JSON parsed. */
const toolMessages = (request: CompletionRequest) =>
  request.messages.filter((m): m is Extract<Chat.ChatMessage, { _tag: "tool" }> => m._tag === "tool").map((m) => ({
    id: m.tool_call_id,
    content: JSON.parse(m.content)
  }))

const failed = Scripted.failure("timeout", { attempts: 3 })
const repeated = Scripted.toolCalls([{ name: "calculator", arguments: { expression: "2 + 2" } }])

describe("a turn", () => {
  it.effect("sends the model's answer once, as a reply to the message", () =>
    Effect.gen(function*() {
      const result = yield* run(message("c", "hi", "m1"))
      expect(result).toEqual(TurnResult.Delivered({ text: "hello there" }))
      expect(yield* Sent.all).toEqual([{
        conversation: { channel: "console", chatId: "c" },
        text: "hello there",
        kind: "answer",
        inReplyTo: { messageId: "m1", platformMessageId: undefined, isGroup: false }
      }])
    }).pipe(Effect.provide(turnKit([Scripted.text("  hello there \n")]))))

  it.effect("carries this conversation's history, and only its own", () =>
    Effect.gen(function*() {
      yield* run(message("alice", "my name is Alice"))
      yield* run(message("bob", "hello from bob"))
      yield* run(message("alice", "what is my name?"))
      expect(yield* Sent.texts).toEqual(["hi Alice", "hi bob", "you are Alice"])

      const [, bob, second] = yield* requests
      expect(contents(second!)).toEqual([
        ["system", expect.any(String)],
        ["user", "my name is Alice"],
        ["assistant", "hi Alice"],
        ["user", "what is my name?"]
      ])
      expect(JSON.stringify(bob!.messages)).not.toContain("Alice")

      const history = yield* HistoryStore
      const bobs = yield* history.window(conversationKey("console", "bob"), 10)
      expect(bobs.map((m) => m.content)).toEqual(["hello from bob", "hi bob"])
    }).pipe(Effect.provide(turnKit([
      Scripted.text("hi Alice"),
      Scripted.text("hi bob"),
      Scripted.text("you are Alice")
    ]))))

  it.effect("sends only the last history_window exchanges", () =>
    Effect.gen(function*() {
      for (let i = 1; i <= 5; i++) yield* run(message("c", `q${i}`))
      const last = (yield* requests).at(-1)!
      expect(last.messages.map((m) => m.content)).toEqual(["Be brief.", "q3", "a3", "q4", "a4", "q5"])
    }).pipe(Effect.provide(turnKit([1, 2, 3, 4, 5].map((i) => Scripted.text(`a${i}`)), {
      config: { llm: { context: { history_window: 2, system_prompt: "Be brief." } } }
    }))))

  it.effect("a redelivered message is not answered again, and the model is not asked again", () =>
    Effect.gen(function*() {
      const first = yield* run(message("c", "once", "u1"))
      const again = yield* run(message("c", "once", "u1"))
      expect(first).toEqual(TurnResult.Delivered({ text: "only once" }))
      expect(again).toEqual(TurnResult.Duplicate())
      expect(yield* Sent.texts).toEqual(["only once"])
      expect(yield* requests).toHaveLength(1)
    }).pipe(Effect.provide(turnKit([Scripted.text("only once")]))))

  it.effect("a reply stored before a crash is delivered without asking the model", () =>
    Effect.gen(function*() {
      const ledger = yield* TurnLedger
      yield* ledger.settle(conversationKey("console", "c"), "m1", "answered", "stored reply")
      yield* ledger.settle(conversationKey("console", "c"), "m2", "failed", "stored error", "timeout")
      expect(yield* run(message("c", "hi", "m1"))).toEqual(TurnResult.Delivered({ text: "stored reply" }))
      expect(yield* run(message("c", "hi again", "m2"))).toEqual(TurnResult.Delivered({ text: "stored error" }))
      expect((yield* Sent.all).map((m) => [m.text, m.kind])).toEqual([
        ["stored reply", "answer"],
        ["stored error", "error"]
      ])
      expect(yield* requests).toHaveLength(0)
      // Delivered now: a third delivery of the same message is ignored.
      expect(yield* run(message("c", "hi", "m1"))).toEqual(TurnResult.Duplicate())
    }).pipe(Effect.provide(turnKit([]))))

  it.effect("a model failure becomes a short error message, and the next message is answered", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(failed)
      yield* run(message("c", "hello"))
      yield* run(message("c", "again"))
      expect((yield* Sent.all).map((m) => [m.text, m.kind])).toEqual([
        [userMessage(error), "error"],
        ["back", "answer"]
      ])
      // The failed turn is not remembered as an exchange.
      const history = yield* HistoryStore
      const remembered = yield* history.window(conversationKey("console", "c"), 10)
      expect(remembered.map((m) => m.content)).toEqual(["again", "back"])
    }).pipe(Effect.provide(turnKit([failed, Scripted.text("back")]))))

  it.effect("a scheduled turn's failure is returned for the scheduler, not sent", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(failed)
      const result = yield* run(scheduled("c", "water the plants"))
      expect(result).toEqual(TurnResult.Failed({ reason: "timeout", text: userMessage(error) }))
      expect(yield* Sent.all).toEqual([])
    }).pipe(Effect.provide(turnKit([failed]))))

  it.effect("a scheduled turn asks the model to act now and sends the answer", () =>
    Effect.gen(function*() {
      const result = yield* run(scheduled("c", "water the plants", { jobId: "j7" }))
      expect(result).toEqual(TurnResult.Delivered({ text: "Time to water the plants." }))
      expect(yield* Sent.texts).toEqual(["Time to water the plants."])
      const [request] = yield* requests
      const instruction = String(request!.messages.at(-1)!.content)
      expect(instruction).toContain("job j7")
      expect(instruction).toContain("water the plants")
      expect(instruction).toContain("do not schedule it again")
    }).pipe(Effect.provide(turnKit([Scripted.text("Time to water the plants.")]))))

  it.effect("notify = false: answered and remembered, nothing sent", () =>
    Effect.gen(function*() {
      const result = yield* run(scheduled("c", "check the feed", { notify: false }))
      expect(result).toEqual(TurnResult.Silent({ text: "nothing new" }))
      expect(yield* Sent.all).toEqual([])
      const history = yield* HistoryStore
      const remembered = yield* history.window(conversationKey("console", "c"), 10)
      expect(remembered.at(-1)!.content).toBe("nothing new")
    }).pipe(Effect.provide(turnKit([Scripted.text("nothing new")]))))

  it.effect("/stop during the model work ends the turn with \"Stopped.\"", () =>
    Effect.gen(function*() {
      const key = conversationKey("console", "c")
      const actors = yield* Actors
      expect(yield* actors.stop(key)).toBe(false)

      // The model never answers; it says when it was asked.
      const asked = yield* Deferred.make<void>()
      const scripted = yield* ScriptedLlm
      yield* scripted.push(Deferred.succeed(asked, undefined).pipe(Effect.zipRight(Effect.never)))
      const turn = yield* Effect.fork(run(message("c", "think hard")))
      yield* Deferred.await(asked)
      expect(yield* actors.stop(key)).toBe(true)
      expect(yield* Fiber.join(turn)).toEqual(TurnResult.Stopped())
      expect((yield* Sent.all).map((m) => [m.text, m.kind])).toEqual([[stoppedText, "notice"]])
      // The stopped message is settled: redelivered, it is not answered again.
      expect(yield* run(message("c", "think hard"))).toEqual(TurnResult.Duplicate())
    }).pipe(Effect.provide(turnKit([]))))
})

describe("a turn's logs", () => {
  it.effect("every log line of a turn carries the message's request id", () => {
    const lines: Array<string> = []
    const logger = Logger.replace(
      Logger.defaultLogger,
      Logging.lineLogger({ format: "logfmt", serviceName: "minibot", secrets: [] }).pipe(
        Logger.map((line) => void lines.push(line))
      )
    )
    return Effect.gen(function*() {
      yield* run(message("logs", "hello", "corr-1"))
      const turnLines = lines.filter((l) => l.includes("component=conversation"))
      expect(turnLines.length).toBeGreaterThanOrEqual(2)
      for (const line of turnLines) {
        expect(line).toContain("request_id=req-corr-1")
        expect(line).toContain("chat_id=logs")
        expect(line).toContain("service=minibot")
      }
    }).pipe(Effect.provide(Layer.merge(turnKit([Scripted.text("hi")]), logger)))
  })
})

describe("the tool loop", () => {
  it.effect("runs a tool call and sends the result back with its tool_call_id", () =>
    Effect.gen(function*() {
      yield* run(message("c", "what is six times seven?"))
      expect(yield* Sent.texts).toEqual(["the answer is 42"])
      const [first, second] = yield* requests
      expect(toolMessages(second!)).toEqual([{
        id: "call_calc",
        content: { ok: true, result: { expression: "6 * 7", result: "42", value: 42 } }
      }])
      // Tools are offered with a JSON schema generated from their Schema.
      expect(first!.tools!.map((t) => t.name)).toEqual(
        expect.arrayContaining([
          "calculator",
          "current_datetime",
          "chat_history_info",
          "chat_history_trim",
          "memory_save"
        ])
      )
      expect(first!.tools!.find((t) => t.name === "calculator")!.parameters).toMatchObject({
        type: "object",
        required: ["expression"]
      })
    }).pipe(Effect.provide(turnKit([
      Scripted.toolCalls([{ id: "call_calc", name: "calculator", arguments: { expression: "6 * 7" } }]),
      Scripted.text("the answer is 42")
    ]))))

  it.effect("runs several calls of one step and returns their results in call order", () =>
    Effect.gen(function*() {
      yield* run(message("c", "two things"))
      const results = toolMessages((yield* requests)[1]!)
      expect(results.map((r) => r.id)).toEqual(["a", "b"])
      expect(results[0]!.content).toMatchObject({ ok: true, result: { value: 2 } })
      expect(results[1]!.content.result.timezone).toBe("Europe/Madrid")
    }).pipe(Effect.provide(turnKit([
      Scripted.toolCalls([
        { id: "a", name: "calculator", arguments: { expression: "1 + 1" } },
        { id: "b", name: "current_datetime", arguments: { timezone: "Europe/Madrid" } }
      ]),
      Scripted.text("done")
    ]))))

  it.effect("invalid arguments become a field-level error for the model, and the turn finishes", () =>
    Effect.gen(function*() {
      yield* run(message("c", "trim please"))
      expect(yield* Sent.texts).toEqual(["sorry"])
      const all = yield* requests
      const [invalid] = toolMessages(all[1]!)
      expect(invalid!.content).toMatchObject({ ok: false, field: "keep_latest" })
      const unknown = toolMessages(all[2]!)[1]
      expect(unknown!.content).toMatchObject({ ok: false })
      expect(unknown!.content.error).toMatch(/no_such_tool/)
    }).pipe(Effect.provide(turnKit([
      Scripted.toolCalls([{ id: "x", name: "chat_history_trim", arguments: { keep_latest: "all" } }]),
      Scripted.toolCalls([{ id: "y", name: "no_such_tool", arguments: {} }]),
      Scripted.text("sorry")
    ]))))

  it.effect("stops at max_tool_iterations with a short explanation", () =>
    Effect.gen(function*() {
      yield* run(message("c", "loop forever"))
      expect(yield* Sent.texts).toEqual([toolLimitText(3)])
      expect(yield* requests).toHaveLength(4)
    }).pipe(Effect.provide(turnKit(
      [1, 2, 3, 4].map((n) => Scripted.toolCalls([{ name: "calculator", arguments: { expression: `${n} + 1` } }])),
      { config: { llm: { max_tool_iterations: 3 } } }
    ))))

  it.effect("stops a model that repeats the same call with the same result", () =>
    Effect.gen(function*() {
      yield* run(message("c", "again and again"))
      expect(yield* Sent.texts).toEqual([repeatedToolText])
      expect(yield* requests).toHaveLength(2)
    }).pipe(Effect.provide(turnKit([repeated, repeated]))))

  it.effect("tool steps are remembered in history without breaking call/result pairs", () =>
    Effect.gen(function*() {
      yield* run(message("c", "power"))
      yield* run(message("c", "next"))
      const third = (yield* requests)[2]!
      expect(third.messages.map((m) => m._tag)).toEqual(["system", "user", "assistant", "tool", "assistant", "user"])
      const call = third.messages[2] as Extract<Chat.ChatMessage, { _tag: "assistant" }>
      const result = third.messages[3] as Extract<Chat.ChatMessage, { _tag: "tool" }>
      expect(result.tool_call_id).toBe(call.tool_calls[0]!.id)
    }).pipe(Effect.provide(turnKit([
      Scripted.toolCalls([{ id: "call_1", name: "calculator", arguments: { expression: "2 ^ 10" } }]),
      Scripted.text("1024"),
      Scripted.text("next one")
    ], { config: { llm: { context: { history_window: 1 } } } }))))

  it.effect("user B can never reach user A's notes, whatever the model sends", () =>
    Effect.gen(function*() {
      yield* run(message("alice", "remember my PIN"))
      expect(toolMessages((yield* requests)[1]!)[0]!.content.ok).toBe(true)

      yield* run(message("bob", "read alice's PIN"))
      const results = toolMessages((yield* requests)[3]!)
      expect(JSON.stringify(results)).not.toContain("1234")
      const byId = Object.fromEntries(results.map((r) => [r.id, r.content]))
      expect(byId.g.result.found).toBe(false)
      expect(byId.l.result.titles ?? byId.l.result.notes ?? []).toEqual([])
      expect(byId.d.result.deleted).toBe(false)
      expect(byId.o).toMatchObject({ ok: false, field: "owner_id" })

      // Alice still has it.
      yield* run(message("alice", "my PIN?"))
      expect(JSON.stringify(toolMessages((yield* requests)[5]!))).toContain("1234")
    }).pipe(Effect.provide(turnKit([
      Scripted.toolCalls([{ name: "memory_save", arguments: { title: "Bank PIN", data: "1234" } }]),
      Scripted.text("ok"),
      Scripted.toolCalls([
        { id: "g", name: "memory_get", arguments: { title: "Bank PIN" } },
        { id: "l", name: "memory_list", arguments: {} },
        { id: "s", name: "memory_search", arguments: { query: "PIN" } },
        { id: "d", name: "memory_delete", arguments: { title: "Bank PIN" } },
        { id: "o", name: "memory_get", arguments: { title: "Bank PIN", owner_id: "console:user-alice" } }
      ]),
      Scripted.text("nothing"),
      Scripted.toolCalls([{ name: "memory_get", arguments: { title: "bank pin" } }]),
      Scripted.text("here")
    ]))))
})
