/**
 * The bus as a stream for API clients (`GET /api/events`). One subscriber of the bus numbers each
 * event, keeps the latest in a bounded buffer (so `Last-Event-ID` resumes after a reconnect) and
 * hands it to every client's own bounded queue without waiting: a client whose queue is full is
 * disconnected (it may reconnect and resume), so a slow client never holds up the bus, and so
 * never a turn.
 *
 * Every `keepAliveEvery`, one fiber puts a `keep-alive` mark in every client's queue (a comment
 * line keeps proxies from closing an idle stream): a timer merged into each client's stream
 * instead costs every client a fiber hop per event, which slowed turns measurably.
 */
import { Clock, Effect, Queue, Schedule, Scope, Stream } from "effect"
import { Bus, BusEvent } from "../../bus/Bus.ts"

/** Events kept for resuming. */
const bufferSize = 1000
/** Events a client may have outstanding before it is dropped. */
const clientQueueSize = 256
const keepAliveEvery = Schedule.spaced("15 seconds")

/** What a client's stream carries: events, and now and then a mark that it is still open. */
export type StreamItem = ApiEvent | "keep-alive"

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

export class EventStream extends Effect.Service<EventStream>()("minibot/EventStream", {
  scoped: Effect.gen(function*() {
    const bus = yield* Bus
    // Ids grow across restarts too (they start at the start time), so a client's old
    // Last-Event-ID never matches a newer process's events by accident.
    let nextId = (yield* Clock.currentTimeMillis) * 1000
    const buffer: Array<ApiEvent> = []
    const clients = new Set<Queue.Queue<StreamItem>>()

    const dispatch = (event: ApiEvent) =>
      Effect.suspend(() => {
        buffer.push(event)
        if (buffer.length > bufferSize) buffer.shift()
        const slow = [...clients].filter((queue) => !queue.unsafeOffer(event))
        for (const queue of slow) clients.delete(queue)
        return Effect.forEach(slow, (queue) =>
          Effect.zipRight(
            Effect.logWarning("event stream client too slow: disconnected"),
            Queue.shutdown(queue)
          ), { discard: true })
      })

    yield* bus.subscribe.pipe(
      Stream.runForEach((event) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => dispatch(toApiEvent(nextId++, now, event)))
      ),
      Effect.forkScoped
    )
    // A full queue is a client about to be dropped: it needs no mark.
    yield* Effect.sync(() => clients.forEach((queue) => queue.unsafeOffer("keep-alive"))).pipe(
      Effect.repeat(keepAliveEvery),
      Effect.forkScoped
    )

    /**
     * The events after `lastEventId` still in the buffer, then every new one, until the scope
     * closes or the client falls behind.
     */
    const follow = (lastEventId: number | undefined): Effect.Effect<Stream.Stream<StreamItem>, never, Scope.Scope> =>
      Effect.gen(function*() {
        const queue = yield* Queue.bounded<StreamItem>(clientQueueSize)
        // Registered and backlog taken in one synchronous step: no event is missed or repeated.
        const backlog = yield* Effect.acquireRelease(
          Effect.sync(() => {
            clients.add(queue)
            return lastEventId === undefined ? [] : buffer.filter((e) => e.id > lastEventId) as Array<StreamItem>
          }),
          () => Effect.sync(() => clients.delete(queue))
        )
        return Stream.concat(Stream.fromIterable(backlog), Stream.fromQueue(queue))
      })

    return { follow } as const
  })
}) {}
