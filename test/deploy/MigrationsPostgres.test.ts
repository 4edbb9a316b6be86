/**
 * Upgrades with several runners: each runner migrates at start, and when they all start at once
 * on a fresh (or older) Postgres database the migrations still run once, by one of them; the
 * others wait for it and find the schema complete.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Database from "../../src/storage/Database.ts"
import { migrations } from "../../src/storage/migrations/index.ts"
import { freshDatabase } from "../support/Postgres.ts"

const runners = 4

/** One runner's start: its own pool, migrated; then what the schema holds. */
const start = (url: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ migration_id: number; count: string }>`
      SELECT migration_id, COUNT(*) AS count FROM effect_sql_migrations GROUP BY migration_id ORDER BY migration_id`
    const [jobs] = yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM scheduled_jobs`
    return { rows: rows.map((r) => [Number(r.migration_id), Number(r.count)]), jobs: Number(jobs!.n) }
  }).pipe(Effect.provide(Layer.fresh(Database.postgresAt(Redacted.make(url)))))

describe("migrations with several runners (Postgres)", () => {
  it.scopedLive(
    "runners starting at once on one database: every migration recorded once, every runner starts",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        // The first start creates the bookkeeping table; an upgrade finds it there with older rows.
        const results = yield* Effect.all(Array.from({ length: runners }, () => start(db.url)), {
          concurrency: "unbounded"
        })
        const expected = Object.keys(migrations).map((name) => [Number(name.slice(0, 4)), 1])
        for (const result of results) expect(result).toEqual({ rows: expected, jobs: 0 })
        const again = yield* Effect.all(Array.from({ length: runners }, () => start(db.url)), {
          concurrency: "unbounded"
        })
        for (const result of again) expect(result).toEqual({ rows: expected, jobs: 0 })
      }),
    60_000
  )
})
