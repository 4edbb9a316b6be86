/**
 * The webhook outbox on both databases (real SQLite in a temp dir, and a fresh Postgres database):
 * a redelivered event is stored once, each due row is taken by one claimer only, a claimed row
 * waits for its lease, finished rows are pruned; and the retry policy's delays.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import * as path from "node:path"
import * as Database from "../../src/storage/Database.ts"
import { WebhookOutbox } from "../../src/webhooks/WebhookOutbox.ts"
import { retryDelay } from "../../src/webhooks/Webhooks.ts"
import { tempDir } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"

const url = "https://hooks.example.com/a"
const other = "https://hooks.example.com/b"

const delivery = (eventId: string, to = url) => ({ eventId, url: to, kind: "reply.sent", body: `{"id":"${eventId}"}` })

const contract = (name: string, database: Effect.Effect<Layer.Layer<any, unknown>, never, any>) =>
  describe(`webhook outbox on ${name}`, () => {
    const withOutbox = <A, E>(body: (outbox: WebhookOutbox) => Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        const layer = yield* database
        return yield* Effect.flatMap(WebhookOutbox, body).pipe(
          Effect.provide(WebhookOutbox.Default.pipe(Layer.provide(layer)))
        )
      })

    it.scopedLive(`${name}: an event written twice is stored once per URL; concurrent claims never share a row`, () =>
      withOutbox((outbox) =>
        Effect.gen(function*() {
          const events = Array.from({ length: 20 }, (_, i) => delivery(`e${i}`))
          yield* outbox.enqueue(events, 1_000)
          yield* outbox.enqueue([delivery("e0"), delivery("e0", other)], 1_000)
          const [a, b] = yield* Effect.all([outbox.claim(2_000, 60_000, 16), outbox.claim(2_000, 60_000, 16)], {
            concurrency: 2
          })
          // A claim racing another may come back short (the rows it chose were taken): the rest stay due.
          const rest = yield* outbox.claim(2_000, 60_000, 32)
          const all = [...a!, ...b!, ...rest]
          const taken = all.map((row) => `${row.event_id} ${row.url}`)
          expect(new Set(taken).size).toBe(taken.length)
          expect(taken.length).toBe(21)
          expect(all.every((row) => row.attempts === 1)).toBe(true)
          // Leased: nothing is due again until the lease ends.
          expect(yield* outbox.claim(3_000, 60_000, 16)).toHaveLength(0)
          expect(yield* outbox.nextDueAt).toBe(60_000)
        })
      ))

    it.scopedLive(`${name}: outcomes are recorded, a released row is due again, old finished rows are pruned`, () =>
      withOutbox((outbox) =>
        Effect.gen(function*() {
          yield* outbox.enqueue([delivery("a"), delivery("b"), delivery("c"), delivery("d")], 1_000)
          const rows = yield* outbox.claim(1_000, 50_000, 16)
          const byId = (id: string) => rows.find((row) => row.event_id === id)!
          yield* outbox.delivered(byId("a"), { status: 200, error: null }, 2_000)
          yield* outbox.delivered(byId("b"), { status: 204, error: null }, 3_000)
          yield* outbox.failed(byId("c"), { status: 404, error: "HTTP 404" }, 4_000)
          yield* outbox.release(byId("d"), 5_000)
          const again = yield* outbox.claim(5_000, 50_000, 16)
          expect(again.map((row) => [row.event_id, row.attempts])).toEqual([["d", 1]])
          yield* outbox.retryAt(again[0]!, { status: 503, error: "HTTP 503" }, 9_000, 6_000)

          yield* outbox.prune(1)
          const left = yield* outbox.list({ limit: 10, offset: 0 })
          expect(left.map((row) => [row.event_id, row.status])).toEqual([
            ["d", "pending"],
            ["c", "failed"],
            ["b", "delivered"]
          ])
          const [summary] = yield* outbox.summary([url])
          expect(summary).toEqual({
            url,
            pending: 1,
            delivered: 1,
            failed: 1,
            lastError: "HTTP 503",
            lastErrorAt: 6_000,
            lastDeliveredAt: 3_000
          })
          const failed = yield* outbox.list({ status: "failed", limit: 10, offset: 0 })
          expect(failed.map((row) => [row.event_id, row.last_status, row.last_error])).toEqual([["c", 404, "HTTP 404"]])
        })
      ))
  })

contract("SQLite", Effect.sync(() => Database.sqliteAt(path.join(tempDir("minibot-outbox-"), "minibot.db"))))
contract("Postgres", Effect.map(freshDatabase, (db) => Database.postgresAt(Redacted.make(db.url))))

describe("webhook retry policy", () => {
  it.effect("waits about 1 s, then twice as long each time, at most 10 minutes, and gives up after 20 retries", () =>
    Effect.gen(function*() {
      const seconds = (attempts: number) => Effect.map(retryDelay(attempts), Option.map((d) => Duration.toSeconds(d)))
      const first = Option.getOrThrow(yield* seconds(1))
      expect(first).toBeGreaterThanOrEqual(0.8)
      expect(first).toBeLessThanOrEqual(1.2)
      const fourth = Option.getOrThrow(yield* seconds(4))
      expect(fourth).toBeGreaterThanOrEqual(8 * 0.8)
      expect(fourth).toBeLessThanOrEqual(8 * 1.2)
      expect(Option.getOrThrow(yield* seconds(20))).toBe(600)
      expect(yield* seconds(21)).toEqual(Option.none())
    }))
})
