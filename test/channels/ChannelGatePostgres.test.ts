/**
 * Two gates on one Postgres database, as two runners have them: a pause or resume asked of one
 * is known to the other at its next re-read, and asked of the other it gets the true answer at
 * once (the stored state, not what that runner last read).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import { ChannelGate } from "../../src/channels/ChannelGate.ts"
import * as Database from "../../src/storage/Database.ts"
import { freshDatabase } from "../support/Postgres.ts"

/** A runner's gate: its own pool on the database at `url`, as a separate process would have. */
const runnerGate = (url: string) =>
  Layer.build(ChannelGate.layer.pipe(Layer.provide(Database.postgresAt(Redacted.make(url))))).pipe(
    Effect.map((context) => Context.get(context, ChannelGate)),
    Effect.orDie
  )

describe("ChannelGate on Postgres", () => {
  it.scopedLive("a pause made through one runner reaches the other; either answers from what is stored", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const first = yield* runnerGate(db.url)
      const second = yield* runnerGate(db.url)

      expect(yield* first.pause("telegram")).toBe(true)
      // Asked before its re-read, the other runner already knows: paused, so 409.
      expect(yield* second.pause("telegram")).toBe(false)
      expect(second.isPaused("telegram")).toBe(true)

      // The first waits in whenRunning (as its poller would) until the resume made elsewhere reaches it.
      const running = yield* Effect.fork(first.whenRunning("telegram"))
      expect(yield* second.resume("telegram")).toBe(true)
      yield* running.await
      expect(first.isPaused("telegram")).toBe(false)
      expect(yield* first.resume("telegram")).toBe(false)

      // And the other way: a pause through the first closes the second's intake by itself.
      expect(yield* first.pause("telegram")).toBe(true)
      yield* second.whenPaused("telegram")
      expect(second.isPaused("telegram")).toBe(true)
    }))
})
