import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, TestClock } from "effect"
import {
  type SendPriority,
  SendThrottle,
  telegramFloodLimits,
  turnTaker
} from "../../../src/channels/telegram/SendThrottle.ts"

/** Sends to `chatId` at the times the throttle allows, recording each time (ms). */
const sendAll = (
  throttle: SendThrottle,
  sends: ReadonlyArray<readonly [number, "user" | "stranger"]>,
  draining?: Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const takeTurn = yield* turnTaker(throttle, draining)
    const times: Array<readonly [number, number]> = []
    const fibers = yield* Effect.forEach(sends, ([chatId, priority]) =>
      Effect.fork(
        Effect.gen(function*() {
          yield* takeTurn(chatId, priority)
          times.push([chatId, yield* TestClock.currentTimeMillis])
        })
      ))
    return { times, fibers }
  })

describe("SendThrottle: Telegram's flood limits as token buckets", () => {
  it.scoped("a private chat gets 3 messages at once, then one a second", () =>
    Effect.gen(function*() {
      const throttle = new SendThrottle(telegramFloodLimits, 0)
      const { fibers, times } = yield* sendAll(throttle, [[1, "user"], [1, "user"], [1, "user"], [1, "user"]])
      yield* TestClock.adjust("10 millis")
      expect(times.map(([, at]) => at)).toEqual([0, 0, 0])
      yield* TestClock.adjust("1 second")
      yield* Fiber.joinAll(fibers)
      expect(times.map(([, at]) => at)).toEqual([0, 0, 0, 1000])
    }))

  it.scoped("a group gets a burst of 3, then one message every 3 s (20 a minute)", () =>
    Effect.gen(function*() {
      const throttle = new SendThrottle(telegramFloodLimits, 0)
      const { fibers, times } = yield* sendAll(throttle, Array.from({ length: 5 }, () => [-100, "user"] as const))
      yield* TestClock.adjust("7 seconds")
      yield* Fiber.joinAll(fibers)
      expect(times.map(([, at]) => at)).toEqual([0, 0, 0, 3000, 6000])
    }))

  it.scoped("a 429 holds only the chat that got it, for retry_after", () =>
    Effect.gen(function*() {
      const throttle = new SendThrottle(telegramFloodLimits, 0)
      throttle.penalize(1, 5, 0)
      const { fibers, times } = yield* sendAll(throttle, [[1, "user"], [2, "user"]])
      yield* TestClock.adjust("10 millis")
      expect(times).toEqual([[2, 0]])
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.joinAll(fibers)
      expect(times).toEqual([[2, 0], [1, 5000]])
    }))

  it.scoped("30 messages a second overall; strangers wait while allowed users' messages go", () =>
    Effect.gen(function*() {
      const throttle = new SendThrottle(telegramFloodLimits, 0)
      // 20 users' messages to distinct chats leave 10 global tokens: the stranger's reserve.
      const first = yield* sendAll(throttle, Array.from({ length: 20 }, (_, i) => [100 + i, "user"] as const))
      yield* Fiber.joinAll(first.fibers)
      const stranger = yield* sendAll(throttle, [[999, "stranger"]])
      const users = yield* sendAll(throttle, Array.from({ length: 10 }, (_, i) => [200 + i, "user"] as const))
      yield* Fiber.joinAll(users.fibers)
      expect(users.times.every(([, at]) => at === 0)).toBe(true)
      expect(stranger.times).toEqual([])
      // Once the global allowance refills past the reserve, the stranger's message goes too.
      yield* TestClock.adjust("1 second")
      yield* Fiber.joinAll(stranger.fibers)
      expect(stranger.times).toHaveLength(1)
      expect(stranger.times[0]![1]).toBeGreaterThan(0)
      expect(stranger.times[0]![1]).toBeLessThanOrEqual(1000)
    }))

  it.scoped("300 replies queued for the overall rate go 30 a second, in order, each asking the throttle about once", () =>
    Effect.gen(function*() {
      let asked = 0
      const throttle = new (class extends SendThrottle {
        override tryTake(chatId: number, priority: SendPriority, now: number) {
          asked++
          return super.tryTake(chatId, priority, now)
        }
      })(telegramFloodLimits, 0)
      const chats = Array.from({ length: 300 }, (_, i) => [1 + i, "user"] as const)
      const { fibers, times } = yield* sendAll(throttle, chats)
      for (let second = 0; second < 12; second++) yield* TestClock.adjust("1 second")
      yield* Fiber.joinAll(fibers)
      expect(times.map(([chat]) => chat)).toEqual(chats.map(([chat]) => chat))
      // 30 at once, then 30 a second: the last of 300 goes after 9 s.
      expect(times.at(-1)![1]).toBeGreaterThanOrEqual(9_000)
      expect(times.at(-1)![1]).toBeLessThanOrEqual(9_100)
      // Only the first in line watches the clock (polling would ask each queued one per token).
      expect(asked).toBeLessThan(3 * chats.length)
    }))

  it.scoped("once draining, a message that would have to wait is held; one whose turn is there goes", () =>
    Effect.gen(function*() {
      const throttle = new SendThrottle(telegramFloodLimits, 0)
      const draining = yield* Deferred.make<void>()
      const queued = yield* sendAll(
        throttle,
        [[1, "user"], [1, "user"], [1, "user"], [1, "user"], [1, "user"]],
        Deferred.await(draining)
      )
      yield* TestClock.adjust("10 millis")
      expect(queued.times).toHaveLength(3)
      yield* Deferred.succeed(draining, undefined)
      const fresh = yield* sendAll(throttle, [[2, "user"]], Deferred.await(draining))
      yield* Fiber.joinAll(fresh.fibers)
      yield* TestClock.adjust("1 minute")
      expect(queued.times).toHaveLength(3)
      expect(fresh.times).toEqual([[2, 10]])
      yield* Effect.forEach(queued.fibers, Fiber.interrupt)
    }))

  it("the bookkeeping of 10,000 chats that each got one message stays bounded", () => {
    const throttle = new SendThrottle(telegramFloodLimits, 0)
    let now = 0
    for (let chat = 1; chat <= 10_000; chat++) {
      while (throttle.tryTake(chat, "user", now) > 0) now += 50
    }
    expect(throttle.trackedChats).toBeLessThanOrEqual(2_000)
  })
})

describe("SendThrottle: previews use only spare allowance", () => {
  it.effect("a preview never takes the chat's last token, so the final reply never waits for one", () =>
    Effect.gen(function*() {
      const throttle = new SendThrottle(telegramFloodLimits, 0)
      expect(throttle.tryTakeSpare(1, 0)).toBe(true)
      expect(throttle.tryTakeSpare(1, 0)).toBe(true)
      expect(throttle.tryTakeSpare(1, 0)).toBe(false) // one token left: it is the reply's
      expect(throttle.tryTake(1, "user", 0)).toBe(0)
    }))

  it.effect("no preview while the chat is held by a 429, even with tokens refilled", () =>
    Effect.gen(function*() {
      const throttle = new SendThrottle(telegramFloodLimits, 0)
      throttle.penalize(1, 5, 0)
      expect(throttle.tryTakeSpare(1, 4_999)).toBe(false)
      expect(throttle.tryTakeSpare(1, 5_000)).toBe(true)
    }))
})
