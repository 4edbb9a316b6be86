import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Layers from "../../src/app/Layers.ts"
import { AppConfig } from "../../src/config/Config.ts"
import { Llm } from "../../src/llm/Llm.ts"
import * as Database from "../../src/storage/Database.ts"
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
})
