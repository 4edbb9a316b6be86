import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, Schedule, Stream, TestClock } from "effect"
import { Bus, BusEvent } from "../../src/bus/Bus.ts"
import { type ApiEvent, EventStream, type StreamItem } from "../../src/control/api/EventStream.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"

const event = (n: number) =>
  BusEvent.InboundReceived({
    conversation: conversationKey("telegram", "42"),
    messageId: `m${n}`,
    requestId: `r${n}`,
    userId: "42"
  })

const messageIdOf = (e: { readonly data: Record<string, unknown> }) => e.data.messageId
const isEvent = (item: StreamItem): item is ApiEvent => item !== "keep-alive"

describe("EventStream", () => {
  it.scopedLive("a client that falls behind is disconnected, and resumes from the buffer with its last event id", () =>
    Effect.gen(function*() {
      const bus = yield* Bus
      const events = yield* EventStream
      const slow = yield* events.follow(undefined)
      // Warm-up events until a second client sees one: the stream's bus subscription is live.
      const probe = yield* Stream.unwrapScoped(events.follow(undefined)).pipe(
        Stream.filter(isEvent),
        Stream.runHead,
        Effect.raceFirst(
          bus.publish(event(0)).pipe(Effect.repeat(Schedule.spaced("10 millis")), Effect.zipRight(Effect.never))
        ),
        Effect.map(Option.getOrThrow)
      )
      // A client that keeps up, to know when every event has been handed to the clients.
      const handedOut = yield* Stream.unwrapScoped(events.follow(probe.id)).pipe(
        Stream.filter(isEvent),
        Stream.takeUntil((e) => messageIdOf(e) === "m300"),
        Stream.runDrain,
        Effect.fork
      )
      for (let n = 1; n <= 300; n++) yield* bus.publish(event(n))
      yield* Fiber.join(handedOut)

      // The slow client, which read nothing meanwhile, was dropped: its stream ends.
      const received = yield* Stream.runCollect(slow).pipe(Effect.timeout("5 seconds"))
      expect(Chunk.size(received)).toBeLessThan(300)

      const resumed = yield* Stream.unwrapScoped(events.follow(probe.id)).pipe(
        Stream.filter(isEvent),
        Stream.filter((e) => messageIdOf(e) !== "m0"),
        Stream.take(300),
        Stream.runCollect,
        Effect.timeout("5 seconds")
      )
      expect(Chunk.toArray(resumed).map(messageIdOf)).toEqual(Array.from({ length: 300 }, (_, i) => `m${i + 1}`))
      expect(Chunk.toArray(resumed)[0]).toMatchObject({
        kind: "inbound.received",
        data: { kind: "inbound.received", conversationId: "telegram:42", messageId: "m1" }
      })
    }).pipe(Effect.provide(EventStream.Default.pipe(Layer.provideMerge(Bus.memory)))))

  it.scoped("every client gets a keep-alive mark every 15 seconds, and only then", () =>
    Effect.gen(function*() {
      const events = yield* EventStream
      const client = yield* events.follow(undefined)
      const marks = yield* Effect.fork(Stream.runCollect(Stream.take(client, 2)))
      yield* TestClock.adjust("14 seconds")
      expect(Option.isNone(yield* Fiber.poll(marks))).toBe(true)
      yield* TestClock.adjust("16 seconds")
      expect(Chunk.toArray(yield* Fiber.join(marks))).toEqual(["keep-alive", "keep-alive"])
    }).pipe(Effect.provide(EventStream.Default.pipe(Layer.provideMerge(Bus.memory)))))
})
