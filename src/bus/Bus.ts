/**
 * The event bus: producers publish domain events, observers (logs, metrics, the dashboard,
 * webhooks) subscribe. Publishing never blocks a turn for long: an event that cannot be taken
 * within a bound is counted as dropped rather than stalling a conversation.
 *
 * Two ways to listen, with different guarantees:
 * - `subscribe`: fan-out. Every subscription sees every event published while it runs, once.
 *   On NATS that includes the events of every runner; nothing is kept for a subscriber that is
 *   not running.
 * - `consume(name, handle)`: a durable, named consumer. Each event is handled once per name,
 *   whichever runner handles it: running the same name on every runner is a work queue (webhook
 *   delivery happens on one runner only); a name per runner (`webhooks-${runner}`) is a durable
 *   fan-out. On NATS, events published while no runner consumes that name wait for it.
 *
 * Two layers: `Bus.memory` (this process only, the default) and `Bus.nats` (JetStream, in
 * `NatsBus.ts`); `Bus.fromConfig` picks one by `[bus] backend`.
 */
import {
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  FiberRef,
  Layer,
  LogLevel,
  Metric,
  PubSub,
  Queue,
  Scope,
  Stream
} from "effect"
import { BusSettings, type NatsBusConfig } from "../config/Config.ts"
import * as Metrics from "../observability/Metrics.ts"
import type { BusEvent, Envelope } from "./BusEvent.ts"
import { handleOnce } from "./Delivery.ts"

export { BusEvent } from "./BusEvent.ts"

export interface BusService {
  /** Hands the event to the bus; never fails and never waits long (see each layer). */
  readonly publish: (event: BusEvent) => Effect.Effect<void>
  /** Fan-out: the events published from now on; the subscription lives as long as the stream runs. */
  readonly subscribe: Stream.Stream<BusEvent>
  /**
   * Runs `handle` for each event of the durable consumer `name` until interrupted. A failed
   * `handle` is retried (`Delivery.handlerRetry`), then logged and skipped. `id` is the event's
   * unique id, the same on every runner and every redelivery (what a consumer dedupes on).
   */
  readonly consume: <E, R>(
    name: string,
    handle: (event: BusEvent, id: string) => Effect.Effect<void, E, R>
  ) => Effect.Effect<never, never, R>
}

export class Bus extends Context.Tag("minibot/Bus")<Bus, BusService>() {
  /** In-process: subscribers on this process only. */
  static readonly memory: Layer.Layer<Bus> = Layer.scoped(Bus, Effect.suspend(() => makeMemory))

  /** NATS JetStream: every runner's events, to subscribers on every runner. */
  /** On NATS JetStream; its client is loaded only when this layer is built. */
  static readonly nats = (settings: NatsBusConfig): Layer.Layer<Bus> =>
    Layer.scoped(Bus, Effect.flatMap(Effect.promise(() => import("./NatsBus.ts")), (nats) => nats.make(settings)))

  /** The layer `[bus] backend` names. */
  static readonly fromConfig: Layer.Layer<Bus, never, BusSettings> = Layer.unwrapEffect(
    Effect.map(BusSettings, (bus) => bus.backend === "nats" ? Bus.nats(bus.nats) : Bus.memory)
  )
}

interface Group {
  readonly queue: Queue.Dequeue<Envelope>
  readonly scope: Scope.CloseableScope
  members: number
}

const capacity = 1024
const publishTimeout = Duration.millis(250)

const makeMemory: Effect.Effect<BusService, never, Scope.Scope> = Effect.gen(function*() {
  const hub = yield* Effect.acquireRelease(PubSub.bounded<Envelope>(capacity), PubSub.shutdown)
  const updateDepth = PubSub.size(hub).pipe(Effect.flatMap((n) => Metric.set(Metrics.busDepth, n)))

  const published = Effect.zipRight(Metric.increment(Metrics.busPublished), updateDepth)
  // A full subscriber holds the publisher up to `publishTimeout`, then the event is dropped.
  const publishWaiting = (envelope: Envelope): Effect.Effect<void> =>
    Effect.gen(function*() {
      const accepted = yield* PubSub.publish(hub, envelope).pipe(Effect.timeoutOption(publishTimeout))
      yield* accepted._tag === "Some"
        ? Metric.increment(Metrics.busPublished)
        : Effect.zipRight(
          Metric.increment(Metrics.busDropped),
          Effect.logWarning("bus subscriber is full: event dropped").pipe(
            Effect.annotateLogs("event", envelope.event._tag)
          )
        )
      yield* updateDepth
    })

  // Room in every subscriber (the usual case) takes the event at once: no timeout to race, which
  // would fork a fiber and set a timer for each of the turn's events.
  const publish = (event: BusEvent): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (publishedAt) => {
      const envelope: Envelope = { id: crypto.randomUUID(), event, publishedAt }
      return hub.unsafeOffer(envelope) ? published : publishWaiting(envelope)
    })

  const take = (queue: Queue.Dequeue<Envelope>) =>
    Effect.gen(function*() {
      const envelope = yield* Queue.take(queue)
      const now = yield* Clock.currentTimeMillis
      yield* Metric.update(Metrics.busLatency, (now - envelope.publishedAt) / 1000)
      yield* updateDepth
      return envelope
    })

  const subscribe: Stream.Stream<BusEvent> = Stream.unwrapScoped(
    Effect.map(PubSub.subscribe(hub), (queue) => Stream.repeatEffect(Effect.map(take(queue), (e) => e.event)))
  )

  // A durable consumer here is one subscription shared by every `consume` of that name, kept
  // while at least one runs: each event goes to one of them.
  const groups = new Map<string, Group>()
  const lock = yield* Effect.makeSemaphore(1)
  const join = (name: string) =>
    lock.withPermits(1)(Effect.gen(function*() {
      const existing = groups.get(name)
      if (existing) {
        existing.members += 1
        return existing.queue
      }
      const scope = yield* Scope.make()
      const queue = yield* PubSub.subscribe(hub).pipe(Scope.extend(scope))
      groups.set(name, { queue, scope, members: 1 })
      return queue
    }))
  const leave = (name: string) =>
    lock.withPermits(1)(Effect.suspend(() => {
      const group = groups.get(name)
      if (!group || --group.members > 0) return Effect.void
      groups.delete(name)
      return Scope.close(group.scope, Exit.void)
    }))

  const consume = <E, R>(name: string, handle: (event: BusEvent, id: string) => Effect.Effect<void, E, R>) =>
    Effect.acquireRelease(join(name), () => leave(name)).pipe(
      Effect.flatMap((queue) =>
        Effect.forever(Effect.flatMap(take(queue), (e) => handleOnce(name, e.id, e.event, handle)))
      ),
      Effect.scoped
    )

  return { publish, subscribe, consume }
})

/**
 * Logs every bus event at debug level: the observability subscriber of the core. Below debug
 * (`[runtime] log_level`, fixed at start) it does not subscribe: every event of every turn would
 * go through a stream only to be filtered out.
 */
export const BusLogger = Layer.scopedDiscard(
  Effect.gen(function*() {
    const minimum = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
    if (LogLevel.greaterThan(minimum, LogLevel.Debug)) return
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
