/**
 * The bus as a stream for API clients (`GET /api/events`). One subscriber of the bus numbers each
 * event, keeps the latest in a bounded buffer (so `Last-Event-ID` resumes after a reconnect) and
 * hands it to every follower without waiting: a follower that is too far behind says so and is
 * dropped (its client may reconnect and resume), so a slow client never holds up the bus, and so
 * never a turn.
 *
 * The fan-out is off the publishing fiber: the subscriber only numbers the event, and one fiber,
 * once the macrotask that published it is over, hands every event of that macrotask to each
 * follower as one batch. A turn publishes several events; a follower gets them in one call (one
 * socket write), and a batch is the same array for every follower, so it is encoded once.
 *
 * Every `keepAliveEvery`, one fiber hands every follower a `keep-alive` mark (a comment line keeps
 * proxies from closing an idle stream).
 */
import { Clock, Effect, Queue, Schedule, Stream } from "effect"
import { Bus, BusEvent } from "../../bus/Bus.ts"

/** Events kept for resuming. */
const bufferSize = 1000
const keepAliveEvery = Schedule.spaced("15 seconds")

/** What a follower is handed: events, and now and then a mark that the stream is still open. */
export type StreamItem = ApiEvent | "keep-alive"

/** Where the stream goes for one client. */
export interface Follower {
  /** Takes a batch, in order; false if the client is too far behind to take it (it is dropped). */
  readonly offer: (items: ReadonlyArray<StreamItem>) => boolean
}

export interface ApiEvent {
  readonly id: number
  readonly kind: string
  readonly at: number
  readonly data: Record<string, unknown>
}

/** An event's kind: its SSE `event` name, its `kind` field, and what `[[webhooks]] events` lists. */
export const kindOf = BusEvent.$match({
  InboundReceived: () => "inbound.received",
  ReplySent: () => "reply.sent",
  TurnFailed: () => "turn.failed",
  DuplicateIgnored: () => "duplicate.ignored",
  TurnStarted: () => "turn.started",
  TurnFinished: () => "turn.finished",
  ToolCalled: () => "tool.called",
  DeliveryFailed: () => "delivery.failed",
  JobFired: () => "job.fired",
  ChannelState: () => "channel.state"
})

const toApiEvent = (id: number, at: number, event: BusEvent): ApiEvent => {
  const { _tag, ...fields } = event
  const kind = kindOf(event)
  // A channel's state concerns no one conversation: its conversationId is null.
  const { conversation = null, ...rest } = fields as { conversation?: string }
  return { id, kind, at, data: { id, kind, at, conversationId: conversation, ...rest } }
}

/** Resumes once the running macrotask (and the microtasks it queued) is over. */
const nextMacrotask = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

const keepAlive: ReadonlyArray<StreamItem> = ["keep-alive"]

export class EventStream extends Effect.Service<EventStream>()("minibot/EventStream", {
  scoped: Effect.gen(function*() {
    const bus = yield* Bus
    // Ids grow across restarts too (they start at the start time), so a client's old
    // Last-Event-ID never matches a newer process's events by accident.
    let nextId = (yield* Clock.currentTimeMillis) * 1000
    const buffer: Array<ApiEvent> = []
    const followers = new Set<Follower>()
    // Numbered, not yet handed out (nor buffered: a follower joining meanwhile gets them once, here).
    const outbox = yield* Queue.unbounded<ApiEvent>()

    const handOut = (items: ReadonlyArray<StreamItem>) =>
      Effect.suspend(() => {
        let slow = 0
        for (const follower of followers) {
          if (follower.offer(items)) continue
          followers.delete(follower)
          slow++
        }
        return slow === 0 ? Effect.void : Effect.logWarning(`event stream clients too slow: ${slow} disconnected`)
      })

    yield* bus.subscribe.pipe(
      Stream.runForEach((event) =>
        Effect.map(Clock.currentTimeMillis, (now) => outbox.unsafeOffer(toApiEvent(nextId++, now, event)))
      ),
      Effect.forkScoped
    )
    yield* Effect.gen(function*() {
      const first = yield* Queue.take(outbox)
      yield* nextMacrotask
      const batch = [first, ...yield* Queue.takeAll(outbox)]
      buffer.push(...batch)
      if (buffer.length > bufferSize) buffer.splice(0, buffer.length - bufferSize)
      yield* handOut(batch)
    }).pipe(Effect.forever, Effect.forkScoped)
    yield* handOut(keepAlive).pipe(Effect.schedule(keepAliveEvery), Effect.forkScoped)

    /**
     * Hands `follower` the events after `lastEventId` still in the buffer, then every new one,
     * until `unfollow` is called or the follower falls behind.
     */
    const follow = (lastEventId: number | undefined, follower: Follower) =>
      Effect.sync(() => {
        // Backlog and registration in one synchronous step: no event is missed or repeated.
        const backlog = lastEventId === undefined ? [] : buffer.filter((e) => e.id > lastEventId)
        if (backlog.length === 0 || follower.offer(backlog)) followers.add(follower)
        return {
          unfollow: () => {
            followers.delete(follower)
          }
        }
      })

    return { follow } as const
  })
}) {}
