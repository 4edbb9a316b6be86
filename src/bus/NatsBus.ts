/**
 * The bus on NATS JetStream. Every runner publishes to one stream (created if missing); a
 * subscriber on any runner reads that stream, so it sees the events of every runner.
 *
 * Guarantees, and where they are enforced:
 * - A turn never waits for NATS: `publish` puts the event in a bounded buffer and returns. One
 *   fiber sends the buffer to JetStream, retrying until the server acknowledges, so events
 *   published while NATS is down are sent once it is back. Past `max_buffered_events` an event is
 *   dropped, counted (`minibot_bus_dropped_total`) and logged at most once per `dropReportInterval`.
 * - Each event is stored once: its id is the `Nats-Msg-Id`, so a publish retried after a lost ack
 *   is discarded by the stream (within `duplicateWindow`).
 * - Each subscriber sees each event once: `subscribe` is an ordered consumer (the client recreates
 *   it at the right sequence after a reconnect); `consume(name)` is a durable consumer acked after
 *   the handler ran, so a runner that dies mid-event leaves it to be redelivered. Both drop ids
 *   they have already seen (a redelivery, or a duplicate stored after the window).
 * - The connection reconnects forever by itself; JetStream keeps what was published meanwhile.
 *   It is drained when the scope ends, after the buffer had `flushTimeout` to empty.
 *
 * Metrics: `minibot_bus_published_total` counts events JetStream acknowledged, `minibot_bus_depth`
 * the events buffered and not yet acknowledged, `minibot_bus_latency_seconds` publish to receipt
 * (across hosts, as far as their clocks agree).
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  StorageType
} from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import {
  Clock,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  Metric,
  Option,
  Queue,
  Redacted,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import type { NatsBusConfig } from "../config/Config.ts"
import * as Metrics from "../observability/Metrics.ts"
import type { BusService } from "./Bus.ts"
import { type BusEvent, type Envelope, EnvelopeJson } from "./BusEvent.ts"
import { handleOnce, recentIds } from "./Delivery.ts"

export class NatsBusError extends Data.TaggedError("NatsBusError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

const connectTimeout = Duration.seconds(2)
const reconnectWait = Duration.millis(500)
/** Connecting, creating the stream or a consumer, publishing: retried with this, forever. */
const natsRetry = Schedule.exponential(Duration.millis(100)).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(2))),
  Schedule.jittered
)
const ackTimeout = Duration.seconds(2)
const dropReportInterval = Duration.seconds(10)
const flushTimeout = Duration.seconds(2)
const flushPoll = Schedule.spaced(Duration.millis(20))
const drainTimeout = Duration.seconds(2)
const resubscribeDelay = Duration.seconds(1)
const streamMaxAge = Duration.days(7)
const duplicateWindow = Duration.minutes(2)
const consumerAckWait = Duration.seconds(30)
/** A durable consumer nobody has read for this long (a runner gone for good) is deleted by the server. */
const consumerInactiveThreshold = Duration.days(7)
const pullBatch = 100
const dedupeCapacity = 10_000

const nanos = (duration: Duration.Duration) => Duration.toMillis(duration) * 1_000_000

/** NATS names a consumer with these characters only. */
const consumerName = /^[A-Za-z0-9_-]+$/

/** The servers of a URL list, without credentials: safe for logs and errors. */
export const addressOf = (url: string): string =>
  url.split(",").map((server) => server.trim().replace(/\/\/[^@/]*@/, "//")).join(",")

/**
 * The items of a NATS iterator. Unlike `Stream.fromAsyncIterable`, stopping early does not await
 * the iterator's `return()`, which for NATS iterators waits for the pending pull to expire; they
 * are closed by their owner instead.
 */
const fromIterable = <A>(iterable: AsyncIterable<A>, operation: string): Stream.Stream<A, NatsBusError> =>
  Stream.suspend(() => {
    const iterator = iterable[Symbol.asyncIterator]()
    return Stream.repeatEffectOption(
      Effect.tryPromise({ try: () => iterator.next(), catch: (cause) => new NatsBusError({ operation, cause }) }).pipe(
        Effect.mapError(Option.some),
        Effect.flatMap((next) => next.done === true ? Effect.fail(Option.none()) : Effect.succeed(next.value))
      )
    )
  })

interface Handles {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}

export const make = (settings: NatsBusConfig): Effect.Effect<BusService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const url = Redacted.value(settings.url)
    const address = addressOf(url)
    const subjects = `${settings.subject_prefix}.>`
    const annotate = Effect.annotateLogs({ component: "bus", nats: address, stream: settings.stream })
    const attempt = <A>(operation: string, run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: (cause) => new NatsBusError({ operation, cause }) })
    /** `effect` retried forever; the first failure of a run of failures is logged. */
    const retrying = <A>(what: string, effect: Effect.Effect<A, NatsBusError>) =>
      Effect.suspend(() => {
        let failures = 0
        return effect.pipe(
          Effect.tapError((error) =>
            failures++ === 0
              ? Effect.logWarning(`NATS ${what} failed at ${address}: retrying`, error.cause).pipe(annotate)
              : Effect.void
          ),
          Effect.retry(natsRetry),
          Effect.tap(() => failures > 0 ? Effect.logInfo(`NATS ${what} succeeded`).pipe(annotate) : Effect.void)
        )
      })

    let connection: NatsConnection | undefined
    const ready = yield* Deferred.make<Handles>()

    // Added first, so it runs last: after the buffer had its chance and the fibers stopped.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const nc = connection
        if (nc === undefined || nc.isClosed()) return Effect.void
        // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to cut it.
        return Effect.interruptible(attempt("drain", () => nc.drain())).pipe(
          Effect.timeout(drainTimeout),
          Effect.catchAll(() => attempt("close", () => nc.close())),
          Effect.ignore
        )
      })
    )

    const ensureStream = (jsm: JetStreamManager) =>
      attempt("stream info", () => jsm.streams.info(settings.stream)).pipe(
        Effect.orElse(() =>
          attempt("stream create", () =>
            jsm.streams.add({
              name: settings.stream,
              subjects: [subjects],
              storage: StorageType.File,
              max_age: nanos(streamMaxAge),
              duplicate_window: nanos(duplicateWindow)
            }))
        ),
        Effect.asVoid
      )

    // Connecting is uninterruptible so that a connection opened as the scope closes is still drained.
    const connectOnce = attempt("connect", () =>
      connect({
        servers: url.split(",").map((server) => server.trim()),
        name: "minibot",
        timeout: Duration.toMillis(connectTimeout),
        reconnectTimeWait: Duration.toMillis(reconnectWait),
        maxReconnectAttempts: -1
      })).pipe(Effect.tap((nc) => (connection = nc)), Effect.uninterruptible)

    const logStatus = (nc: NatsConnection) =>
      fromIterable(nc.status(), "status").pipe(
        Stream.runForEach((status) =>
          status.type === "disconnect"
            ? Effect.logWarning("NATS disconnected: events are buffered until it is back")
            : status.type === "reconnect"
            ? Effect.logInfo("NATS reconnected")
            : Effect.void
        ),
        Effect.ignore,
        annotate
      )

    yield* Effect.gen(function*() {
      const nc = yield* retrying("connect", connectOnce)
      yield* Effect.forkScoped(logStatus(nc))
      const jsm = yield* retrying("JetStream", attempt("JetStream", () => jetstreamManager(nc)))
      yield* retrying("stream", ensureStream(jsm))
      yield* Effect.logInfo("bus on NATS JetStream").pipe(annotate)
      yield* Deferred.succeed(ready, { js: jetstream(nc), jsm })
    }).pipe(Effect.forkScoped)

    // Publishing: a bounded buffer, sent by one fiber.
    const buffer = yield* Queue.dropping<Envelope>(settings.max_buffered_events)
    let outstanding = 0
    let unreportedDrops = 0
    let lastDropReport = Number.NEGATIVE_INFINITY
    const updateDepth = Effect.suspend(() => Metric.set(Metrics.busDepth, outstanding))

    const dropped = (event: BusEvent) =>
      Effect.gen(function*() {
        yield* Metric.increment(Metrics.busDropped)
        unreportedDrops += 1
        const now = yield* Clock.currentTimeMillis
        if (now - lastDropReport < Duration.toMillis(dropReportInterval)) return
        lastDropReport = now
        yield* Effect.logWarning("bus buffer full while NATS is unreachable: events dropped").pipe(
          Effect.annotateLogs({ dropped: unreportedDrops, buffer: settings.max_buffered_events, event: event._tag }),
          annotate
        )
        unreportedDrops = 0
      })

    const publish = (event: BusEvent): Effect.Effect<void> =>
      Effect.gen(function*() {
        const envelope: Envelope = { id: crypto.randomUUID(), publishedAt: yield* Clock.currentTimeMillis, event }
        if (yield* Queue.offer(buffer, envelope)) {
          outstanding += 1
          yield* updateDepth
        } else {
          yield* dropped(event)
        }
      })

    const send = ({ js, jsm }: Handles, envelope: Envelope) =>
      attempt("publish", () =>
        js.publish(
          `${settings.subject_prefix}.${envelope.event._tag}`,
          Schema.encodeSync(EnvelopeJson)(envelope),
          { msgID: envelope.id, timeout: Duration.toMillis(ackTimeout) }
        )).pipe(
          // The stream may have been deleted under us: recreate it before the next try.
          Effect.tapError(() => Effect.ignore(ensureStream(jsm))),
          (effect) => retrying("publish", effect),
          Effect.zipRight(Effect.suspend(() => {
            outstanding -= 1
            return Effect.zipRight(Metric.increment(Metrics.busPublished), updateDepth)
          }))
        )

    yield* Deferred.await(ready).pipe(
      Effect.flatMap((handles) => Effect.forever(Effect.flatMap(Queue.take(buffer), (e) => send(handles, e)))),
      Effect.forkScoped
    )

    // Added after the publisher, so it runs before the publisher is stopped: what is still
    // buffered gets `flushTimeout` to reach NATS (which may first have to connect); the rest is
    // counted as dropped.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (outstanding === 0) return
        yield* Deferred.await(ready).pipe(
          Effect.zipRight(
            Effect.repeat(Effect.sync(() => outstanding), { schedule: flushPoll, until: (n) => n === 0 })
          ),
          Effect.interruptible,
          Effect.timeout(flushTimeout),
          Effect.ignore
        )
        const left = outstanding
        if (left === 0) return
        yield* Metric.incrementBy(Metrics.busDropped, left)
        yield* Effect.logWarning("bus events not sent to NATS before shutdown: dropped").pipe(
          Effect.annotateLogs("dropped", left),
          annotate
        )
      })
    )

    // Receiving.
    const decode = (msg: JsMsg) =>
      Either.mapLeft(
        Schema.decodeEither(EnvelopeJson)(msg.string()),
        (error) =>
          Effect.logWarning("undecodable event on the bus: skipped", error.message).pipe(
            Effect.annotateLogs({ subject: msg.subject, seq: msg.seq }),
            annotate
          )
      )

    const recordLatency = (envelope: Envelope) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Metric.update(Metrics.busLatency, Math.max(0, now - envelope.publishedAt) / 1000)
      )

    const messagesOf = (open: Effect.Effect<ConsumerMessages, NatsBusError>) =>
      // Not awaited: closing waits for the pending pull to expire (30 s), which would hold up shutdown.
      Effect.acquireRelease(open, (messages) => Effect.sync(() => void messages.close().catch(() => undefined))).pipe(
        Effect.map((messages) => fromIterable(messages, "consume"))
      )

    const subscribe: Stream.Stream<BusEvent> = Stream.unwrap(Effect.gen(function*() {
      const since = new Date(yield* Clock.currentTimeMillis).toISOString()
      const seen = recentIds(dedupeCapacity)
      const once = Stream.unwrapScoped(Effect.gen(function*() {
        const { js } = yield* Deferred.await(ready)
        const consumer = yield* attempt("ordered consumer", () =>
          js.consumers.get(settings.stream, {
            filter_subjects: subjects,
            deliver_policy: DeliverPolicy.StartTime,
            opt_start_time: since
          }))
        return yield* messagesOf(attempt("consume", () => consumer.consume()))
      }))
      // A failed subscription starts again from `since`; what it had already seen is skipped.
      return once.pipe(
        Stream.retry(natsRetry),
        Stream.mapEffect((msg) =>
          Either.match(decode(msg), {
            onLeft: (log) => Effect.as(log, undefined),
            onRight: (envelope) =>
              seen.firstTime(envelope.id)
                ? Effect.as(recordLatency(envelope), envelope.event)
                : Effect.succeed(undefined)
          })
        ),
        Stream.filter((event): event is BusEvent => event !== undefined),
        Stream.catchAllCause((cause) => Stream.execute(Effect.logError("bus subscription ended", cause).pipe(annotate)))
      )
    }))

    const ensureConsumer = (jsm: JetStreamManager, name: string, since: string) => {
      const info = attempt("consumer info", () => jsm.consumers.info(settings.stream, name))
      const add = attempt("consumer create", () =>
        jsm.consumers.add(settings.stream, {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.StartTime,
          opt_start_time: since,
          filter_subject: subjects,
          ack_wait: nanos(consumerAckWait),
          inactive_threshold: nanos(consumerInactiveThreshold)
        }))
      // Another runner may create it between our look and our create: then it is there to look at.
      return info.pipe(Effect.orElse(() => add), Effect.orElse(() => info), Effect.asVoid)
    }

    const consume = <E, R>(name: string, handle: (event: BusEvent, id: string) => Effect.Effect<void, E, R>) =>
      Effect.gen(function*() {
        if (!consumerName.test(name)) {
          return yield* Effect.dieMessage(`bus consumer name must match ${consumerName}: ${JSON.stringify(name)}`)
        }
        const since = new Date(yield* Clock.currentTimeMillis).toISOString()
        const seen = recentIds(dedupeCapacity)
        const handles = yield* Deferred.await(ready)

        const deliver = (msg: JsMsg) =>
          Either.match(decode(msg), {
            onLeft: (log) => Effect.zipRight(log, Effect.sync(() => msg.term())),
            onRight: (envelope) =>
              Effect.zipRight(
                seen.firstTime(envelope.id)
                  ? Effect.zipRight(recordLatency(envelope), handleOnce(name, envelope.id, envelope.event, handle))
                  : Effect.void,
                Effect.sync(() => msg.ack())
              )
          })

        const run = Effect.scoped(Effect.gen(function*() {
          yield* retrying("consumer", ensureConsumer(handles.jsm, name, since))
          const consumer = yield* attempt("consumer", () => handles.js.consumers.get(settings.stream, name))
          const messages = yield* messagesOf(
            attempt("consume", () => consumer.consume({ max_messages: pullBatch }))
          )
          yield* Stream.runForEach(messages, deliver)
        }))
        // The messages end when the connection closes or the consumer is deleted: open them again.
        return yield* run.pipe(
          Effect.catchAllCause((cause) => Effect.logWarning("bus consumer stopped: restarting", cause)),
          Effect.zipRight(Effect.sleep(resubscribeDelay)),
          Effect.forever,
          Effect.annotateLogs("consumer", name),
          annotate
        )
      })

    return { publish, subscribe, consume }
  })
