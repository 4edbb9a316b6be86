import * as NodeContext from "@effect/platform-node/NodeContext"
import { Migrator, SqlClient } from "@effect/sql"
import { PgClient, PgMigrator } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Layers from "../../src/app/Layers.ts"
import { AppConfig } from "../../src/config/Config.ts"
import { Llm } from "../../src/llm/Llm.ts"
import * as Database from "../../src/storage/Database.ts"
import { migrations } from "../../src/storage/migrations/index.ts"
import { NotesStore } from "../../src/tools/notes/NotesStore.ts"
import { callTool } from "../scheduler/helpers.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"

const onPostgres = (url: string) => (config: Parameters<typeof AppConfig.layer>[0]) =>
  Layers.runtimeWith(Llm.openaiWith({ retryBase: "10 millis", retryCap: "50 millis" })).pipe(
    Layer.provideMerge(Database.postgresAt(Redacted.make(url))),
    Layer.provideMerge(AppConfig.layer(config))
  )

describe("notes on Postgres", () => {
  it.scopedLive("a miss suggests by prefix, by the key's own start and by shared word; the notes quota holds", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, {
        config: {
          storage: { backend: "postgres", postgres_url: db.url },
          tools: { kv_memory: { max_notes_per_owner: 4 } }
        },
        layer: onPostgres(db.url)
      })
      for (const title of ["Grocery list", "Car insurance", "Log entry 9"]) {
        expect((yield* callTool(h, "pg", "memory_save", { title, data: "..." })).ok).toBe(true)
      }
      const suggestions = (title: string) =>
        Effect.map(callTool(h, "pg", "memory_get", { title }), (out) => out.result.suggestions)
      expect(yield* suggestions("grocery lst")).toEqual(["Grocery list"])
      expect(yield* suggestions("insurance for the car")).toEqual(["Car insurance"])
      expect(yield* suggestions("log entry 9x")).toEqual(["Log entry 9"])
      expect((yield* callTool(h, "pg", "memory_save", { title: "four", data: "x" })).ok).toBe(true)
      expect(yield* callTool(h, "pg", "memory_save", { title: "five", data: "x" })).toMatchObject({
        ok: false,
        error: expect.stringContaining("max_notes_per_owner = 4")
      })
    }))

  it.scopedLive("search is full text on the tsvector index: words and word starts, titles first, each owner alone", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, {
        config: { storage: { backend: "postgres", postgres_url: db.url } },
        layer: onPostgres(db.url)
      })
      const save = (who: string, title: string, data: string) =>
        Effect.map(callTool(h, who, "memory_save", { title, data }), (out) => expect(out.ok).toBe(true))
      yield* save("alice", "Weekend plans", "gym on saturday, then buy groceries for the barbecue")
      yield* save("alice", "Groceries", "milk, eggs, bread")
      yield* save("alice", "Recipes", "pancakes: flour, milk, eggs")
      yield* save("bob", "Groceries for bob", "groceries and milk")
      const titles = (who: string, query: string) =>
        Effect.map(
          callTool(h, who, "memory_search", { query }),
          (out) => (out.result.results as Array<{ title: string; match: string }>).map((r) => r.title)
        )

      // A title match outranks a match in the text; a word's start finds the word.
      expect(yield* titles("alice", "groceries")).toEqual(["Groceries", "Weekend plans"])
      expect(yield* titles("alice", "groc")).toEqual(["Groceries", "Weekend plans"])
      expect((yield* titles("alice", "milk eggs")).sort()).toEqual(["Groceries", "Recipes"])
      expect(yield* titles("alice", "Saturday's BARBECUE")).toEqual(["Weekend plans"])
      expect(yield* titles("alice", "submarine")).toEqual([])
      expect(yield* titles("bob", "groceries milk")).toEqual(["Groceries for bob"])
      const hit = yield* callTool(h, "alice", "memory_search", { query: "barbecue" })
      expect(hit.result.results[0]).toMatchObject({ match: "full_text", snippet: expect.stringContaining("barbecue") })

      // The GIN index answers a text query (sequential scans ruled out, as on a table too big to scan).
      const plan = yield* h.use(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.zipRight(
          sql`SET LOCAL enable_seqscan = off`,
          sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT title FROM notes WHERE search @@ to_tsquery('simple', 'groc:*')`
        ).pipe(sql.withTransaction)))
      expect(plan.map((row) => row["QUERY PLAN"]).join("\n")).toContain("notes_search")
    }))

  it.scopedLive("notes saved before migration 0007 are found by full-text search after it", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const url = Redacted.make(db.url)
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < "0007"))
      const old = PgMigrator.layer({ loader: Migrator.fromRecord(before) }).pipe(
        Layer.provideMerge(PgClient.layer({ url })),
        Layer.provide(NodeContext.layer)
      )
      const at = "2026-01-01T00:00:00.000Z"
      yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`INSERT INTO notes ${
            sql.insert({
              owner_id: "alice",
              title: "Passport",
              title_key: "passport",
              data: "renewal appointment in march",
              created_at: at,
              updated_at: at
            })
          }`),
        old
      )
      const found = yield* Effect.provide(
        Effect.flatMap(NotesStore, (notes) => notes.search("alice", "appoint", { limit: 5, offset: 0 })),
        NotesStore.Default.pipe(Layer.provide(Database.postgresAt(url)))
      )
      expect(found.items.map((hit) => hit.title)).toEqual(["Passport"])
    }))
})
