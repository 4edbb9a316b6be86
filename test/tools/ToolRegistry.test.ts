import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema, TestClock } from "effect"
import * as Tool from "../../src/tools/Tool.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { callOf, contextFor, parse } from "./helpers.ts"

const ctx = contextFor("owner-1")

const echo = Tool.make({
  name: "echo",
  description: "Echo the text back.",
  parameters: Schema.Struct({
    text: Tool.param(Schema.String.pipe(Schema.maxLength(10)), "Text to echo"),
    options: Tool.optionalParam(
      Schema.Struct({ repeat: Tool.param(Schema.Int.pipe(Schema.between(1, 3)), "How many times") }),
      "Options"
    )
  }),
  run: (args, ctx) => Effect.succeed({ text: args.text.repeat(args.options?.repeat ?? 1), owner: ctx.ownerId })
})

const failing = Tool.make({
  name: "failing",
  description: "Always fails.",
  parameters: Schema.Struct({}),
  run: () => Tool.fail("the thing is broken", "thing")
})

const crashing = Tool.make({
  name: "crashing",
  description: "Throws.",
  parameters: Schema.Struct({}),
  run: () => Effect.die(new Error("boom"))
})

const slow = Tool.make({
  name: "slow",
  description: "Never finishes.",
  parameters: Schema.Struct({}),
  run: () => Effect.never
})

const quick = Tool.make({
  name: "quick",
  description: "Has its own short time limit.",
  parameters: Schema.Struct({}),
  timeout: "2 seconds",
  run: () => Effect.sleep("5 seconds").pipe(Effect.as("late"))
})

const registry = ToolRegistry.make([echo, failing, crashing, slow, quick])

describe("ToolRegistry.execute", () => {
  it.effect("runs a tool and wraps its result", () =>
    Effect.gen(function*() {
      const out = parse(yield* registry.execute(callOf("echo", { text: "hi", options: { repeat: 2 } }), ctx))
      expect(out).toEqual({ ok: true, result: { text: "hihi", owner: "owner-1" } })
    }))

  it.effect("answers an unknown tool with the list of tools", () =>
    Effect.gen(function*() {
      const out = parse(yield* registry.execute(callOf("rm_rf", {}), ctx))
      expect(out.ok).toBe(false)
      expect(out.error).toContain("Unknown tool \"rm_rf\"")
      expect(out.error).toContain("echo")
    }))

  it.effect("answers invalid JSON arguments", () =>
    Effect.gen(function*() {
      const out = parse(yield* registry.execute(callOf("echo", "{\"text\": \"hi\""), ctx))
      expect(out.ok).toBe(false)
      expect(out.error).toContain("not valid JSON")
    }))

  it.effect("accepts empty arguments for a tool without parameters", () =>
    Effect.gen(function*() {
      const out = parse(yield* registry.execute(callOf("failing", ""), ctx))
      expect(out).toEqual({ ok: false, error: "the thing is broken", field: "thing" })
    }))

  it.effect("names the field of an invalid argument, nested ones by path", () =>
    Effect.gen(function*() {
      const missing = parse(yield* registry.execute(callOf("echo", {}), ctx))
      expect(missing).toMatchObject({ ok: false, field: "text" })
      expect(missing.error).toContain("\"text\" is missing")

      const tooLong = parse(yield* registry.execute(callOf("echo", { text: "x".repeat(11) }), ctx))
      expect(tooLong).toMatchObject({ ok: false, field: "text" })
      expect(tooLong.error).toContain("at most 10 character(s)")

      const nested = parse(yield* registry.execute(callOf("echo", { text: "a", options: { repeat: 9 } }), ctx))
      expect(nested).toMatchObject({ ok: false, field: "options.repeat" })
      expect(nested.error).toContain("between 1 and 3")

      const notObject = parse(yield* registry.execute(callOf("echo", "[1, 2]"), ctx))
      expect(notObject).toMatchObject({ ok: false, error: "the arguments must be a JSON object" })
    }))

  it.effect("rejects arguments the tool does not declare (an owner cannot be passed in)", () =>
    Effect.gen(function*() {
      const out = parse(yield* registry.execute(callOf("echo", { text: "a", owner_id: "someone-else" }), ctx))
      expect(out).toMatchObject({ ok: false, field: "owner_id" })
      expect(out.error).toContain("is unexpected")
    }))

  it.effect("turns a defect into an error result", () =>
    Effect.gen(function*() {
      const out = parse(yield* registry.execute(callOf("crashing", {}), ctx))
      expect(out).toEqual({ ok: false, error: "Tool \"crashing\" failed unexpectedly" })
    }))

  it.effect("stops a tool at the default time limit", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(registry.execute(callOf("slow", {}), ctx, { timeout: "3 seconds" }))
      yield* TestClock.adjust("2 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      const out = parse(yield* Fiber.join(fiber))
      expect(out).toEqual({ ok: false, error: "Tool \"slow\" timed out after 3s" })
    }))

  it.effect("a tool's own time limit wins over the default", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(registry.execute(callOf("quick", {}), ctx, { timeout: "1 minute" }))
      yield* TestClock.adjust("2 seconds")
      const out = parse(yield* Fiber.join(fiber))
      expect(out).toEqual({ ok: false, error: "Tool \"quick\" timed out after 2s" })
    }))
})

describe("ToolRegistry.executeAll", () => {
  it.effect("runs the calls of a step concurrently and answers in call order with their ids", () =>
    Effect.gen(function*() {
      const bStarted = yield* Deferred.make<void>()
      // `first` can only finish once `second` has started: run one after the other, it would time out.
      const first = Tool.make({
        name: "first",
        description: "Waits for second.",
        parameters: Schema.Struct({}),
        run: () => Deferred.await(bStarted).pipe(Effect.zipRight(Effect.sleep("1 second")), Effect.as("first done"))
      })
      const second = Tool.make({
        name: "second",
        description: "Starts first.",
        parameters: Schema.Struct({}),
        run: () => Deferred.succeed(bStarted, undefined).pipe(Effect.as("second done"))
      })
      const reg = ToolRegistry.make([first, second])
      const fiber = yield* Effect.fork(
        reg.executeAll([callOf("first", {}, "call_a"), callOf("second", {}, "call_b")], ctx, { timeout: "5 seconds" })
      )
      // Past `first`'s time limit: run one after the other, `first` would have timed out by now.
      yield* TestClock.adjust("10 seconds")
      const results = yield* Fiber.join(fiber)
      expect(results.map((r) => r.tool_call_id)).toEqual(["call_a", "call_b"])
      expect(results.map((r) => parse(r.content))).toEqual([
        { ok: true, result: "first done" },
        { ok: true, result: "second done" }
      ])
    }))

  it.effect("one failing call does not affect the others", () =>
    Effect.gen(function*() {
      const results = yield* registry.executeAll(
        [callOf("echo", { text: "ok" }, "c1"), callOf("nope", {}, "c2"), callOf("crashing", {}, "c3")],
        ctx
      )
      expect(results.map((r) => [r.tool_call_id, r.name, parse(r.content).ok])).toEqual([
        ["c1", "echo", true],
        ["c2", "nope", false],
        ["c3", "crashing", false]
      ])
    }))
})

describe("ToolRegistry.layer", () => {
  it.effect("collects the tools of every group, skipping empty (disabled) groups", () =>
    Effect.gen(function*() {
      const reg = yield* ToolRegistry
      expect(reg.specs().map((s) => s.name)).toEqual(["echo", "failing"])
      expect(reg.specs()[0]).toEqual({ name: "echo", description: "Echo the text back.", parameters: echo.parameters })
    }).pipe(
      Effect.provide(ToolRegistry.layer([Effect.succeed([echo]), Effect.succeed([]), Effect.succeed([failing])]))
    ))

  it("refuses two tools with the same name", () => {
    expect(() => ToolRegistry.make([echo, echo])).toThrow(/duplicate tool name "echo"/)
  })
})
