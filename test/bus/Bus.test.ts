import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Metric, Ref, Stream } from "effect"
import { Bus, BusEvent } from "../../src/bus/Bus.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import * as Metrics from "../../src/observability/Metrics.ts"

const event = (n: number) =>
  BusEvent.InboundReceived({
    conversation: conversationKey("console", "c"),
    messageId: `m${n}`,
    requestId: `r${n}`,
    userId: "u"
  })

describe("Bus", () => {
  it.scopedLive("every subscriber sees every event, in order", () =>
    Effect.gen(function*() {
      const bus = yield* Bus
      const a = yield* bus.subscribe.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      const b = yield* bus.subscribe.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("20 millis") // let both subscriptions start
      for (const n of [1, 2, 3]) yield* bus.publish(event(n))
      const ids = (c: Chunk.Chunk<BusEvent>) => Chunk.toArray(c).map((e) => (e as { messageId: string }).messageId)
      expect(ids(yield* Fiber.join(a))).toEqual(["m1", "m2", "m3"])
      expect(ids(yield* Fiber.join(b))).toEqual(["m1", "m2", "m3"])
    }).pipe(Effect.provide(Bus.memory)))

  it.scopedLive("a stuck subscriber applies back-pressure, then costs dropped events rather than a stalled producer", () =>
    Effect.gen(function*() {
      const bus = yield* Bus
      const droppedBefore = (yield* Metric.value(Metrics.busDropped)).count
      // A subscriber that takes one event and then never again.
      yield* bus.subscribe.pipe(Stream.runForEach(() => Effect.never), Effect.forkScoped)
      yield* Effect.sleep("20 millis")
      const started = Date.now()
      for (let n = 0; n < 1030; n++) yield* bus.publish(event(n))
      const elapsed = Date.now() - started
      const dropped = (yield* Metric.value(Metrics.busDropped)).count - droppedBefore
      // The first 1024 (capacity) + 1 in flight fit; the rest waited for the publish timeout and were dropped.
      expect(dropped).toBeGreaterThanOrEqual(4)
      expect(dropped).toBeLessThanOrEqual(6)
      expect(elapsed).toBeGreaterThanOrEqual(4 * 250 - 50)
      expect((yield* Metric.value(Metrics.busDepth)).value).toBeGreaterThan(1000)
    }).pipe(Effect.provide(Bus.memory)))

  it.scopedLive("a consumer name shared by two consumers handles each event once; another name sees every event", () =>
    Effect.gen(function*() {
      const bus = yield* Bus
      const handled = yield* Ref.make<ReadonlyArray<readonly [string, string]>>([])
      const allSeen = yield* Deferred.make<void>()
      const record = (consumer: string) => (e: BusEvent) =>
        Ref.updateAndGet(handled, (xs) => [...xs, [consumer, (e as { messageId: string }).messageId] as const]).pipe(
          Effect.flatMap((xs) => xs.length === 12 ? Deferred.succeed(allSeen, undefined) : Effect.void)
        )
      yield* Effect.forkScoped(bus.consume("webhooks", record("webhooks")))
      yield* Effect.forkScoped(bus.consume("webhooks", record("webhooks")))
      yield* Effect.forkScoped(bus.consume("audit", record("audit")))
      yield* Effect.sleep("20 millis") // let the consumers start
      for (const n of [1, 2, 3, 4, 5, 6]) yield* bus.publish(event(n))
      yield* Deferred.await(allSeen)
      const of = (consumer: string) =>
        Ref.get(handled).pipe(Effect.map((xs) => xs.filter(([c]) => c === consumer).map(([, id]) => id).sort()))
      const all = ["m1", "m2", "m3", "m4", "m5", "m6"]
      expect(yield* of("webhooks")).toEqual(all)
      expect(yield* of("audit")).toEqual(all)
    }).pipe(Effect.provide(Bus.memory)))
})
