/**
 * The in-process event bus: producers publish domain events, observers (logs, metrics, later the
 * dashboard) subscribe as streams. Bounded with back-pressure; a subscriber that stays full past
 * `publishTimeout` costs an event (counted as dropped) rather than stalling a conversation.
 */
import { Clock, Data, Duration, Effect, Layer, Metric, PubSub, Queue, Stream } from "effect"
import type { ConversationKey } from "../domain/Conversation.ts"
import * as Metrics from "../observability/Metrics.ts"

export type BusEvent = Data.TaggedEnum<{
  InboundReceived: {
    readonly conversation: ConversationKey
    readonly messageId: string
    readonly requestId: string
    readonly userId: string | undefined
  }
  ReplySent: {
    readonly conversation: ConversationKey
    readonly messageId: string
    readonly requestId: string
    readonly chunks: number
    readonly durationMs: number
  }
  TurnFailed: {
    readonly conversation: ConversationKey
    readonly messageId: string
    readonly requestId: string
    readonly reason: string
  }
  DuplicateIgnored: {
    readonly conversation: ConversationKey
    readonly messageId: string
  }
}>
export const BusEvent = Data.taggedEnum<BusEvent>()

interface Envelope {
  readonly event: BusEvent
  readonly publishedAt: number
}

const capacity = 1024
const publishTimeout = Duration.millis(250)

export class Bus extends Effect.Service<Bus>()("minibot/Bus", {
  scoped: Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(PubSub.bounded<Envelope>(capacity), PubSub.shutdown)
    const updateDepth = PubSub.size(hub).pipe(Effect.flatMap((n) => Metric.set(Metrics.busDepth, n)))

    const publish = (event: BusEvent): Effect.Effect<void> =>
      Effect.gen(function*() {
        const publishedAt = yield* Clock.currentTimeMillis
        const accepted = yield* PubSub.publish(hub, { event, publishedAt }).pipe(Effect.timeoutOption(publishTimeout))
        yield* accepted._tag === "Some"
          ? Metric.increment(Metrics.busPublished)
          : Effect.zipRight(
            Metric.increment(Metrics.busDropped),
            Effect.logWarning("bus subscriber is full: event dropped").pipe(Effect.annotateLogs("event", event._tag))
          )
        yield* updateDepth
      })

    /** Events from now on, as a stream; the subscription lives as long as the stream runs. */
    const subscribe: Stream.Stream<BusEvent> = Stream.unwrapScoped(
      Effect.map(PubSub.subscribe(hub), (queue) =>
        Stream.repeatEffect(
          Effect.gen(function*() {
            const { event, publishedAt } = yield* Queue.take(queue)
            const now = yield* Clock.currentTimeMillis
            yield* Metric.update(Metrics.busLatency, (now - publishedAt) / 1000)
            yield* updateDepth
            return event
          })
        ))
    )

    return { publish, subscribe } as const
  })
}) {}

/** Logs every bus event at debug level: the observability subscriber of the core. */
export const BusLogger = Layer.scopedDiscard(
  Effect.gen(function*() {
    const bus = yield* Bus
    yield* bus.subscribe.pipe(
      Stream.runForEach((event) =>
        Effect.logDebug(`bus ${event._tag}`).pipe(
          Effect.annotateLogs({ component: "bus", ...flatten(event) })
        )
      ),
      Effect.forkScoped
    )
  })
)

const flatten = (event: BusEvent): Record<string, unknown> => {
  const { _tag, ...fields } = event
  return fields
}
