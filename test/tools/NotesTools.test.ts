import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import * as NotesTools from "../../src/tools/builtin/NotesTools.ts"
import { maxSuggestionCandidates, NotesStore } from "../../src/tools/notes/NotesStore.ts"
import type { ToolContext } from "../../src/tools/Tool.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { makeToolsConfig, ToolsSettings } from "../../src/tools/ToolsConfig.ts"
import { callOf, contextFor, notesStoreLayer, parse } from "./helpers.ts"

const alice = contextFor("telegram:1001")
const bob = contextFor("telegram:2002")
const start = Date.parse("2024-05-01T09:00:00Z")

const withNotes = (kvMemory: Record<string, unknown> = {}) =>
  ToolRegistry.layer([NotesTools.group]).pipe(
    Layer.provideMerge(notesStoreLayer),
    Layer.provide(ToolsSettings.layer({ tools: makeToolsConfig({ kv_memory: kvMemory }) }))
  )

const run = (ctx: ToolContext, name: string, args: unknown) =>
  Effect.flatMap(ToolRegistry, (registry) => Effect.map(registry.execute(callOf(name, args), ctx), parse))

/** Runs a tool call that must succeed and returns its result. */
const ok = (ctx: ToolContext, name: string, args: unknown) =>
  Effect.map(run(ctx, name, args), (out) => {
    expect(out, `${name} ${JSON.stringify(args)}: ${out.error}`).toMatchObject({ ok: true })
    return out.result
  })

const rowCount = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT count(*) AS n FROM notes`).pipe(
  Effect.map((rows) => rows[0]!.n)
)

describe("notes tools", () => {
  it.effect("save, get, update by title case-insensitively, delete", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const saved = yield* ok(alice, "memory_save", {
        title: "Grocery List",
        data: "milk, eggs",
        metadata: { tags: ["shopping"] }
      })
      expect(saved).toEqual({ saved: true, created: true, title: "Grocery List", expires_at: null })

      const got = yield* ok(alice, "memory_get", { title: "grocery list" })
      expect(got).toEqual({
        found: true,
        title: "Grocery List",
        data: "milk, eggs",
        metadata: { tags: ["shopping"] },
        created_at: "2024-05-01T09:00:00.000Z",
        updated_at: "2024-05-01T09:00:00.000Z",
        expires_at: null
      })

      yield* TestClock.adjust("1 minute")
      const updated = yield* ok(alice, "memory_save", { title: "  GROCERY   list ", data: "milk, eggs, bread" })
      expect(updated).toMatchObject({ created: false, title: "GROCERY list" })
      const after = yield* ok(alice, "memory_get", { title: "Grocery List" })
      expect(after).toMatchObject({
        data: "milk, eggs, bread",
        metadata: { tags: ["shopping"] }, // kept: no metadata given
        created_at: "2024-05-01T09:00:00.000Z",
        updated_at: "2024-05-01T09:01:00.000Z"
      })
      expect((yield* ok(alice, "memory_list", {})).total).toBe(1)

      expect(yield* ok(alice, "memory_delete", { title: "grocery LIST" })).toEqual({
        deleted: true,
        title: "grocery LIST"
      })
      expect(yield* ok(alice, "memory_get", { title: "Grocery List" })).toMatchObject({ found: false })
      expect(yield* rowCount).toBe(0)
    }).pipe(Effect.provide(withNotes())))

  it.effect("validates arguments with the field at fault", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      expect(yield* run(alice, "memory_save", { title: "  ", data: "x" })).toMatchObject({ ok: false, field: "title" })
      expect(yield* run(alice, "memory_save", { title: "t" })).toMatchObject({ ok: false, field: "data" })
      expect(yield* run(alice, "memory_save", { title: "t", data: "x", metadata: [1] })).toMatchObject({
        ok: false,
        field: "metadata"
      })
      const badDate = yield* run(alice, "memory_save", { title: "t", data: "x", expires_at: "next tuesday" })
      expect(badDate).toMatchObject({ ok: false, field: "expires_at" })
      expect(badDate.error).toContain("ISO-8601")
      const past = yield* run(alice, "memory_save", { title: "t", data: "x", expires_at: "2024-04-30T00:00:00Z" })
      expect(past).toMatchObject({ ok: false, field: "expires_at", error: expect.stringContaining("in the past") })
      expect(yield* run(alice, "memory_search", { query: "?!" })).toMatchObject({ ok: false, field: "query" })
      expect(yield* run(alice, "memory_list", { limit: 0 })).toMatchObject({ ok: false, field: "limit" })
      expect(yield* run(alice, "memory_list", { offset: -1 })).toMatchObject({ ok: false, field: "offset" })
      expect(yield* rowCount).toBe(0)
    }).pipe(Effect.provide(withNotes())))

  it.effect("expired notes are invisible to every operation, purged, and a new save starts afresh", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      yield* ok(alice, "memory_save", {
        title: "Parking spot",
        data: "level 3, row F",
        expires_at: "2024-05-01T10:00:00Z"
      })
      yield* ok(alice, "memory_save", { title: "Passport number", data: "X1234567" })
      expect(yield* ok(alice, "memory_get", { title: "parking spot" })).toMatchObject({
        found: true,
        expires_at: "2024-05-01T10:00:00.000Z"
      })

      yield* TestClock.adjust("61 minutes")
      expect(yield* ok(alice, "memory_get", { title: "Parking spot" })).toMatchObject({ found: false, suggestions: [] })
      expect(yield* ok(alice, "memory_list", {})).toMatchObject({ total: 1, notes: [{ title: "Passport number" }] })
      expect((yield* ok(alice, "memory_search", { query: "level row" })).results).toEqual([])
      expect((yield* ok(alice, "memory_search", { query: "evel" })).results).toEqual([])
      expect(yield* ok(alice, "memory_delete", { title: "Parking spot" })).toMatchObject({ deleted: false })

      expect(yield* rowCount).toBe(2)
      const store = yield* NotesStore
      expect(yield* store.purgeExpired).toBe(1)
      expect(yield* rowCount).toBe(1)

      yield* ok(alice, "memory_save", { title: "Parking spot", data: "level 1", expires_at: "2024-05-01T12:00:00Z" })
      yield* TestClock.adjust("2 hours")
      const again = yield* ok(alice, "memory_save", { title: "Parking spot", data: "level 2" })
      // The expired note was not revived: a new one with no expiry.
      expect(again).toMatchObject({ created: true, expires_at: null })
      expect(yield* ok(alice, "memory_get", { title: "Parking spot" })).toMatchObject({
        data: "level 2",
        expires_at: null
      })
    }).pipe(Effect.provide(withNotes())))

  it.effect("an expiry can be removed with null", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      yield* ok(alice, "memory_save", { title: "Wifi", data: "guest/1234", expires_at: "2024-05-02T00:00:00Z" })
      yield* ok(alice, "memory_save", { title: "wifi", data: "guest/1234", expires_at: null })
      yield* TestClock.adjust("2 days")
      expect(yield* ok(alice, "memory_get", { title: "Wifi" })).toMatchObject({ found: true, expires_at: null })
    }).pipe(Effect.provide(withNotes())))

  it.effect("search ranks full-text matches (titles first, prefixes too), then partial-word matches", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      yield* ok(alice, "memory_save", {
        title: "Weekend plans",
        data: "gym on saturday, then buy groceries for the barbecue"
      })
      yield* TestClock.adjust("1 minute")
      yield* ok(alice, "memory_save", { title: "Groceries", data: "milk, eggs, bread" })
      yield* TestClock.adjust("1 minute")
      yield* ok(alice, "memory_save", { title: "Recipes", data: "pancakes: flour, milk, eggs" })
      yield* TestClock.adjust("1 minute")
      yield* ok(alice, "memory_save", { title: "Books", data: "The Overstory" })

      const groceries = yield* ok(alice, "memory_search", { query: "groceries" })
      expect(groceries.results.map((r: { title: string }) => r.title)).toEqual(["Groceries", "Weekend plans"])
      expect(groceries.results[1]).toMatchObject({
        match: "full_text",
        snippet: expect.stringContaining("buy groceries")
      })

      const prefix = yield* ok(alice, "memory_search", { query: "groc" })
      expect(prefix.results.map((r: { title: string }) => r.title)).toEqual(["Groceries", "Weekend plans"])

      const eggs = yield* ok(alice, "memory_search", { query: "milk eggs" })
      expect(eggs.results.map((r: { title: string }) => r.title).sort()).toEqual(["Groceries", "Recipes"])

      // "cake" is inside "pancakes" and "story" inside "Overstory": no word starts with them.
      const partial = yield* ok(alice, "memory_search", { query: "cake" })
      expect(partial.results).toEqual([
        expect.objectContaining({ title: "Recipes", match: "partial", snippet: expect.stringContaining("pancakes") })
      ])
      const mixed = yield* ok(alice, "memory_search", { query: "story barbecue" })
      expect(mixed.results.map((r: { title: string; match: string }) => [r.title, r.match])).toEqual([
        ["Weekend plans", "full_text"],
        ["Books", "partial"]
      ])

      expect((yield* ok(alice, "memory_search", { query: "submarine" })).results).toEqual([])
    }).pipe(Effect.provide(withNotes())))

  it.effect("a miss suggests close titles of the same owner", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      for (const title of ["Grocery list", "Gym schedule", "Birthday ideas", "Car insurance"]) {
        yield* ok(alice, "memory_save", { title, data: "..." })
      }
      expect(yield* ok(alice, "memory_get", { title: "grocery lst" })).toEqual({
        found: false,
        title: "grocery lst",
        suggestions: ["Grocery list"]
      })
      expect((yield* ok(alice, "memory_get", { title: "birthday" })).suggestions).toEqual(["Birthday ideas"])
      expect((yield* ok(alice, "memory_get", { title: "insurance for the car" })).suggestions).toEqual([
        "Car insurance"
      ])
      expect((yield* ok(alice, "memory_get", { title: "Tax return" })).suggestions).toEqual([])
      expect(yield* ok(alice, "memory_delete", { title: "Gym schedul" })).toEqual({
        deleted: false,
        title: "Gym schedul",
        suggestions: ["Gym schedule"]
      })
    }).pipe(Effect.provide(withNotes())))

  it.effect("with 1,000 notes a miss compares only the few titles the database picks, and still suggests", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* NotesStore
      for (const title of ["Grocery list", "Car insurance", "Birthday ideas"]) {
        yield* store.save(alice.ownerId, { title, data: "..." })
      }
      // A thousand newer notes, all sharing the words "log" and "entry" (inserted in one statement: faster).
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO notes ${
        sql.insert(Array.from({ length: 1000 }, (_, i) => {
          const at = new Date(start + (i + 1) * 1000).toISOString()
          const title = `Log entry ${i + 1}`
          return {
            owner_id: alice.ownerId,
            title,
            title_key: title.toLowerCase(),
            data: "...",
            metadata: "{}",
            created_at: at,
            updated_at: at
          }
        }))
      }`
      yield* TestClock.adjust("1 hour")
      for (const miss of ["grocery lst", "insurance for the car", "entry 5000", "zzz", "log entry"]) {
        const compared = yield* store.suggestionCandidates(alice.ownerId, miss)
        expect(compared.length, miss).toBeLessThanOrEqual(maxSuggestionCandidates)
      }
      expect(maxSuggestionCandidates).toBeLessThanOrEqual(100)
      expect((yield* ok(alice, "memory_get", { title: "grocery lst" })).suggestions).toEqual(["Grocery list"])
      expect((yield* ok(alice, "memory_delete", { title: "insurance for the car" })).suggestions).toEqual([
        "Car insurance"
      ])
      expect((yield* ok(alice, "memory_get", { title: "birthday" })).suggestions).toEqual(["Birthday ideas"])
      expect((yield* ok(alice, "memory_get", { title: "log entry 99x" })).suggestions).toContain("Log entry 99")
    }).pipe(Effect.provide(withNotes())))

  it.effect("max_notes_per_owner and max_note_bytes: refused with the setting named; updates and other owners pass", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      for (const title of ["one", "two", "three"]) yield* ok(alice, "memory_save", { title, data: "x" })
      const full = yield* run(alice, "memory_save", { title: "four", data: "x" })
      expect(full).toMatchObject({ ok: false, field: "title" })
      expect(full.error).toContain("you already have 3 notes")
      expect(full.error).toContain("[tools.kv_memory] max_notes_per_owner = 3")
      expect(yield* ok(alice, "memory_save", { title: "Two", data: "updated" })).toMatchObject({ created: false })
      expect(yield* ok(bob, "memory_save", { title: "four", data: "x" })).toMatchObject({ created: true })
      yield* ok(alice, "memory_delete", { title: "one" })
      expect(yield* ok(alice, "memory_save", { title: "four", data: "x" })).toMatchObject({ created: true })

      // 100 "é" are 200 bytes: over a 150-byte limit although 100 characters.
      const big = yield* run(bob, "memory_save", { title: "big", data: "é".repeat(100) })
      expect(big).toMatchObject({
        ok: false,
        field: "data",
        error: "data is 200 bytes; a note may hold at most 150 ([tools.kv_memory] max_note_bytes)"
      })
      expect(yield* ok(bob, "memory_save", { title: "big", data: "é".repeat(75) })).toMatchObject({ created: true })
      expect(yield* rowCount).toBe(5)
    }).pipe(Effect.provide(withNotes({ max_notes_per_owner: 3, max_note_bytes: 150 }))))

  it.effect("paginates lists and searches within default_limit and max_limit", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      for (let i = 1; i <= 12; i++) {
        yield* ok(alice, "memory_save", { title: `Note ${String(i).padStart(2, "0")}`, data: `entry number ${i}` })
      }
      const first = yield* ok(alice, "memory_list", {})
      expect(first).toMatchObject({ total: 12, limit: 5, offset: 0, has_more: true })
      expect(first.notes.map((n: { title: string }) => n.title)).toEqual([
        "Note 01",
        "Note 02",
        "Note 03",
        "Note 04",
        "Note 05"
      ])

      const capped = yield* ok(alice, "memory_list", { limit: 500 })
      expect(capped).toMatchObject({ limit: 8, has_more: true })
      expect(capped.notes).toHaveLength(8)

      const last = yield* ok(alice, "memory_list", { limit: 8, offset: 8 })
      expect(last).toMatchObject({ has_more: false })
      expect(last.notes.map((n: { title: string }) => n.title)).toEqual(["Note 09", "Note 10", "Note 11", "Note 12"])

      const search = yield* ok(alice, "memory_search", { query: "entry", limit: 100 })
      expect(search).toMatchObject({ limit: 8, has_more: true })
      expect(search.results).toHaveLength(8)
      const rest = yield* ok(alice, "memory_search", { query: "entry", offset: 8, limit: 8 })
      expect(rest.results).toHaveLength(4)
      expect(new Set([...search.results, ...rest.results].map((r: { title: string }) => r.title)).size).toBe(12)
    }).pipe(Effect.provide(withNotes({ default_limit: 5, max_limit: 8 }))))

  it.effect("one owner can never read, list, search, delete or overwrite another owner's notes", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      yield* ok(alice, "memory_save", { title: "Secret plan", data: "launch codes 0000", metadata: { owner: "alice" } })

      expect(yield* ok(bob, "memory_get", { title: "Secret plan" })).toEqual({
        found: false,
        title: "Secret plan",
        suggestions: []
      })
      expect(yield* ok(bob, "memory_get", { title: "secret pla" })).toMatchObject({ found: false, suggestions: [] })
      expect(yield* ok(bob, "memory_list", { limit: 100 })).toMatchObject({ total: 0, notes: [] })
      expect((yield* ok(bob, "memory_search", { query: "launch codes" })).results).toEqual([])
      expect((yield* ok(bob, "memory_search", { query: "aunch" })).results).toEqual([])
      expect(yield* ok(bob, "memory_delete", { title: "Secret plan" })).toMatchObject({
        deleted: false,
        suggestions: []
      })

      // Naming another owner in the arguments is rejected, not obeyed.
      for (const name of ["memory_get", "memory_delete"]) {
        const out = yield* run(bob, name, { title: "Secret plan", owner_id: "telegram:1001" })
        expect(out).toMatchObject({ ok: false, field: "owner_id" })
      }
      expect(yield* run(bob, "memory_list", { ownerId: "telegram:1001" })).toMatchObject({
        ok: false,
        field: "ownerId"
      })

      // Bob saving the same title creates Bob's own note; Alice's is untouched.
      expect(yield* ok(bob, "memory_save", { title: "SECRET PLAN", data: "bob's plan" })).toMatchObject({
        created: true
      })
      expect(yield* ok(alice, "memory_get", { title: "secret plan" })).toMatchObject({
        title: "Secret plan",
        data: "launch codes 0000",
        metadata: { owner: "alice" }
      })
      expect(yield* ok(bob, "memory_get", { title: "secret plan" })).toMatchObject({ data: "bob's plan", metadata: {} })
      expect((yield* ok(alice, "memory_search", { query: "plan" })).results.map((r: { snippet: string }) => r.snippet))
        .toEqual(["launch codes 0000"])

      // Deleting is per owner too.
      yield* ok(bob, "memory_delete", { title: "Secret plan" })
      expect(yield* ok(alice, "memory_get", { title: "Secret plan" })).toMatchObject({ found: true })
      expect(yield* rowCount).toBe(1)
    }).pipe(Effect.provide(withNotes())))

  it.effect("a stored note whose metadata is not a JSON object is a storage failure, not empty metadata", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      yield* ok(alice, "memory_save", { title: "Plan", data: "x", metadata: { tags: ["a"] } })
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE notes SET metadata = '[1, 2]'`
      expect(yield* run(alice, "memory_get", { title: "Plan" })).toMatchObject({
        ok: false,
        error: "The notes storage failed; try again later"
      })
    }).pipe(Effect.provide(withNotes())))

  it.effect("a disabled kv_memory offers no notes tools", () =>
    Effect.gen(function*() {
      const registry = yield* ToolRegistry
      expect(registry.specs()).toEqual([])
    }).pipe(Effect.provide(withNotes({ enabled: false }))))
})
