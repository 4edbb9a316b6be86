import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Schedule, TestClock } from "effect"
import { Bus, BusEvent } from "../../src/bus/Bus.ts"
import { clientBacklog, sseBody } from "../../src/control/api/EventsHandlers.ts"
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

/** A follower that records what it is handed; it takes at most `capacity` items, then says it is behind. */
const recorder = (capacity = Infinity) => {
  const items: Array<StreamItem> = []
  const batches: Array<number> = []
  const offer = (batch: ReadonlyArray<StreamItem>) => {
    if (items.length + batch.length > capacity) return false
    items.push(...batch)
    batches.push(batch.length)
    return true
  }
  return { items, batches, events: () => items.filter(isEvent), offer }
}

/** Publishes `m0` until `events` hands one out: its bus subscription is live. The event id. */
const subscribed = (events: EventStream) =>
  Effect.gen(function*() {
    const bus = yield* Bus
    const seen = yield* Deferred.make<number>()
    const { unfollow } = yield* events.follow(undefined, {
      offer: (items) => (items.filter(isEvent).forEach((e) => Deferred.unsafeDone(seen, Exit.succeed(e.id))), true)
    })
    const id = yield* Deferred.await(seen).pipe(
      Effect.raceFirst(
        bus.publish(event(0)).pipe(Effect.repeat(Schedule.spaced("10 millis")), Effect.zipRight(Effect.never))
      )
    )
    unfollow()
    return id
  })

const eventStream = EventStream.Default.pipe(Layer.provideMerge(Bus.memory))

describe("EventStream", () => {
  it.scopedLive("a follower that falls behind is dropped, and resumes from the buffer with its last event id", () =>
    Effect.gen(function*() {
      const bus = yield* Bus
      const events = yield* EventStream
      const probe = yield* subscribed(events)
      const slow = recorder(100)
      yield* events.follow(probe, slow)
      // A follower that keeps up, to know when the events published so far have been handed out.
      const keeping = recorder()
      let waiting: { readonly messageId: string; readonly done: Deferred.Deferred<void> } | undefined
      yield* events.follow(probe, {
        offer: (items) => {
          keeping.offer(items)
          if (waiting && items.some((e) => isEvent(e) && messageIdOf(e) === waiting!.messageId)) {
            Deferred.unsafeDone(waiting.done, Exit.void)
          }
          return true
        }
      })
      // In steps of 50, so that no one batch is more than the slow follower can take.
      for (let step = 0; step < 6; step++) {
        waiting = { messageId: `m${50 * step + 50}`, done: yield* Deferred.make<void>() }
        for (let n = 50 * step + 1; n <= 50 * step + 50; n++) yield* bus.publish(event(n))
        yield* Deferred.await(waiting.done)
      }

      // Every event in order; the events of one macrotask in one batch.
      const published = Array.from({ length: 300 }, (_, i) => `m${i + 1}`)
      expect(keeping.events().map(messageIdOf).filter((id) => id !== "m0")).toEqual(published)
      expect(keeping.batches.length).toBeLessThan(300)

      // The slow follower was handed what it could take, then nothing: it was dropped.
      const received = slow.events().filter((e) => messageIdOf(e) !== "m0")
      expect(received.length).toBeGreaterThan(0)
      expect(received.length).toBeLessThanOrEqual(100)
      expect(received.map(messageIdOf)).toEqual(published.slice(0, received.length))

      const resumed = recorder()
      yield* events.follow(received.at(-1)!.id, resumed)
      expect(resumed.events().map(messageIdOf)).toEqual(published.slice(received.length))
      expect(resumed.events()[0]).toMatchObject({
        kind: "inbound.received",
        data: { kind: "inbound.received", conversationId: "telegram:42" }
      })
    }).pipe(Effect.provide(eventStream)))

  it.scopedLive("a client that reads nothing is disconnected once its backlog is full; the others go on", () =>
    Effect.gen(function*() {
      const bus = yield* Bus
      const events = yield* EventStream
      const probe = yield* subscribed(events)
      const unread = yield* sseBody(events, probe)
      const closed = yield* Deferred.make<void>()
      unread.once("close", () => Deferred.unsafeDone(closed, Exit.void))
      const reading = yield* sseBody(events, probe)
      const text: Array<string> = []
      reading.on("data", (chunk: Uint8Array) => text.push(new TextDecoder().decode(chunk)))

      // Each frame is over 100 bytes: 1000 of them are more than the backlog.
      expect(1000 * 100).toBeGreaterThan(clientBacklog)
      for (let n = 1; n <= 1000; n++) yield* bus.publish(event(n))
      yield* Deferred.await(closed)
      expect(unread.destroyed).toBe(true)
      // The reading client is not held up, and gets every event, in order.
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve))).pipe(
        Effect.repeat({ until: () => text.join("").includes(`"messageId":"m1000"`) })
      )
      const ids = [...text.join("").matchAll(/"messageId":"(m\d+)"/g)].map((m) => m[1]).filter((id) => id !== "m0")
      expect(ids).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i + 1}`))
      reading.destroy()
    }).pipe(Effect.provide(eventStream)))

  it.scoped("every follower gets a keep-alive mark every 15 seconds, and only then", () =>
    Effect.gen(function*() {
      const events = yield* EventStream
      const follower = recorder()
      yield* events.follow(undefined, follower)
      yield* TestClock.adjust("14 seconds")
      expect(follower.items).toEqual([])
      yield* TestClock.adjust("16 seconds")
      expect(follower.items).toEqual(["keep-alive", "keep-alive"])
    }).pipe(Effect.provide(eventStream)))
})
