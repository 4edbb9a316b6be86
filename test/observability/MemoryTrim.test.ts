import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref, TestClock } from "effect"
import { trimWhenQuiet } from "../../src/observability/MemoryTrim.ts"

/** The trimmer over a counter the test moves, counting its trims. */
const setup = Effect.gen(function*() {
  const activity = yield* Ref.make(0)
  const trims = yield* Ref.make(0)
  yield* Effect.forkScoped(trimWhenQuiet({ activity: Ref.get(activity), trim: Ref.update(trims, (n) => n + 1) }))
  yield* Effect.yieldNow()
  const act = Ref.update(activity, (n) => n + 1)
  return { act, trims: Ref.get(trims) }
})

describe("MemoryTrim", () => {
  it.scoped("trims once after start-up, then not again while nothing happens", () =>
    Effect.gen(function*() {
      const { trims } = yield* setup
      yield* TestClock.adjust("1 second")
      expect(yield* trims).toBe(1)
      yield* TestClock.adjust("10 minutes")
      expect(yield* trims).toBe(1)
    }))

  it.scoped("waits for a start-up with messages to go quiet", () =>
    Effect.gen(function*() {
      const { act, trims } = yield* setup
      yield* act
      yield* TestClock.adjust("1 second")
      expect(yield* trims).toBe(0)
      yield* TestClock.adjust("15 seconds")
      expect(yield* trims).toBe(1)
    }))

  it.scoped("a conversation going on is never paused; its end is trimmed once", () =>
    Effect.gen(function*() {
      const { act, trims } = yield* setup
      yield* TestClock.adjust("1 second")
      expect(yield* trims).toBe(1)
      // A message every 10 s for five minutes: every 15 s look sees a new one.
      for (let i = 0; i < 30; i++) {
        yield* act
        yield* TestClock.adjust("10 seconds")
      }
      expect(yield* trims).toBe(1)
      yield* TestClock.adjust("30 seconds")
      expect(yield* trims).toBe(2)
      yield* TestClock.adjust("10 minutes")
      expect(yield* trims).toBe(2)
    }))
})
