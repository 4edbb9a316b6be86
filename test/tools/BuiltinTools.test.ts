import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schema, TestClock } from "effect"
import * as BuiltinTools from "../../src/tools/BuiltinTools.ts"
import { NotesStore } from "../../src/tools/notes/NotesStore.ts"
import * as Tool from "../../src/tools/Tool.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { makeToolsConfig, ToolsSettings } from "../../src/tools/ToolsConfig.ts"
import { callOf, contextFor, notesStoreLayer, parse } from "./helpers.ts"

const waiting = Tool.make({
  name: "waiting",
  description: "Waits a minute.",
  parameters: Schema.Struct({}),
  run: () => Effect.sleep("1 minute")
})

const settings = (tools: Record<string, unknown>) =>
  ToolsSettings.layer({ tools: makeToolsConfig(tools), timezone: "UTC" })

describe("BuiltinTools", () => {
  it.effect("registers the enabled built-in tools and extra groups, with the configured default time limit", () =>
    Effect.gen(function*() {
      const registry = yield* ToolRegistry
      expect(registry.specs().map((s) => s.name)).toEqual([
        "current_datetime",
        "set_timezone",
        "calculator",
        "memory_save",
        "memory_get",
        "memory_search",
        "memory_list",
        "memory_delete",
        "http_request",
        "waiting"
      ])
      const fiber = yield* Effect.fork(registry.execute(callOf("waiting", {}), contextFor("u")))
      yield* TestClock.adjust("5 seconds")
      expect(parse(yield* Fiber.join(fiber))).toEqual({ ok: false, error: "Tool \"waiting\" timed out after 5s" })
    }).pipe(
      Effect.provide(BuiltinTools.registry([Effect.succeed([waiting])])),
      Effect.provide(notesStoreLayer),
      Effect.provide(settings({ timeout_seconds: 5, http_client: { enabled: true } }))
    ))

  it.effect("leaves out disabled tools (http_request is off by default)", () =>
    Effect.gen(function*() {
      const registry = yield* ToolRegistry
      expect(registry.specs().map((s) => s.name)).toEqual(["current_datetime", "set_timezone", "calculator"])
    }).pipe(
      Effect.provide(BuiltinTools.registry([])),
      Effect.provide(notesStoreLayer),
      Effect.provide(settings({ kv_memory: { enabled: false } }))
    ))

  it.effect("the purge worker deletes expired notes on its interval", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = yield* NotesStore
      const count = Effect.map(sql<{ n: number }>`SELECT count(*) AS n FROM notes`, (rows) => rows[0]!.n)
      yield* store.save("u", { title: "short-lived", data: "x", expiresAt: new Date(30_000) })
      yield* store.save("u", { title: "kept", data: "y" })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(BuiltinTools.purgeNotes)
        yield* TestClock.adjust("1 minute")
        expect(yield* count).toBe(2) // expired but the next run is not due yet
        yield* TestClock.adjust("1 minute")
        expect(yield* count).toBe(1)
      }))
    }).pipe(
      Effect.provide(notesStoreLayer),
      Effect.provide(settings({ kv_memory: { purge_interval_seconds: 120 } }))
    ))
})
