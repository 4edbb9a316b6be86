/**
 * The NATS bus against the real server (`MINIBOT_TEST_NATS`, default nats://127.0.0.1:4222), a
 * fresh stream per test. Two `Bus` layers in one process stand for two runners: each has its own
 * connection, as two processes would.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import {
  Chunk,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Metric,
  Option,
  Redacted,
  Ref,
  Scope,
  Stream,
  TestClock
} from "effect"
import { setTimeout } from "node:timers/promises"
import { Bus, BusEvent } from "../../src/bus/Bus.ts"
import { BusSettings, makeConfig, type NatsBusConfig } from "../../src/config/Config.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import * as Metrics from "../../src/observability/Metrics.ts"
import { closedPort, tcpProxy } from "./TcpProxy.ts"

const natsUrl = process.env.MINIBOT_TEST_NATS ?? "nats://127.0.0.1:4222"
const natsTarget = (() => {
  const { hostname, port } = new URL(natsUrl)
  return { host: hostname, port: Number(port || 4222) }
})()

beforeAll(async () => {
  try {
    const nc = await connect({ servers: natsUrl, timeout: 2000 })
    await nc.close()
  } catch (error) {
    throw new Error(
      `NATS is not reachable at ${natsUrl} (set MINIBOT_TEST_NATS to a NATS server with JetStream): ${String(error)}`
    )
  }
})

/** A stream name and subject prefix of our own, deleted at the end of the test. */
const freshStream = Effect.acquireRelease(
  Effect.sync(() => {
    const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    return { stream: `MINIBOT_TEST_${tag}`, subject_prefix: `minibot.test.${tag}` }
  }),
  ({ stream }) =>
    Effect.promise(async () => {
      const nc = await connect({ servers: natsUrl })
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false)
      await nc.close()
    })
)

const settings = (
  names: { readonly stream: string; readonly subject_prefix: string },
  overrides: { readonly url?: string; readonly max_buffered_events?: number } = {}
): NatsBusConfig => ({
  ...names,
  url: Redacted.make(overrides.url ?? natsUrl),
  max_buffered_events: overrides.max_buffered_events ?? 10_000
})

/** A runner's bus, alive for the enclosing scope. */
const runner = (config: NatsBusConfig) => Effect.map(Layer.build(Bus.nats(config)), Context.get(Bus))

const event = (id: string) =>
  BusEvent.InboundReceived({
    conversation: conversationKey("console", "c"),
    messageId: id,
    requestId: `r-${id}`,
    userId: undefined
  })
const idOf = (e: BusEvent) => ("messageId" in e ? e.messageId : "")
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
const sorted = (xs: ReadonlyArray<string>) => [...xs].sort()

/** The first `n` events a subscription sees, collected in the background. */
const collect = (bus: Context.Tag.Service<typeof Bus>, n: number) =>
  bus.subscribe.pipe(Stream.take(n), Stream.runCollect, Effect.map(Chunk.toArray), Effect.fork)

/** Subscriptions start from the moment they run: let the forked ones start before publishing. */
const settle = Effect.sleep(Duration.millis(50))

const within = Duration.seconds(15)

describe("NatsBus (NATS JetStream)", () => {
  it.scopedLive(
    "two runners: every subscriber sees the events of both, each exactly once",
    () =>
      Effect.gen(function*() {
        const names = yield* freshStream
        const a = yield* runner(settings(names))
        const b = yield* runner(settings(names))
        const onA = yield* collect(a, 6)
        const onB = yield* collect(b, 6)
        yield* settle
        for (const id of ids("a", 3)) yield* a.publish(event(id))
        for (const id of ids("b", 3)) yield* b.publish(event(id))
        const expected = sorted([...ids("a", 3), ...ids("b", 3)])
        expect(sorted((yield* Fiber.join(onA).pipe(Effect.timeout(within))).map(idOf))).toEqual(expected)
        expect(sorted((yield* Fiber.join(onB).pipe(Effect.timeout(within))).map(idOf))).toEqual(expected)
      }),
    30_000
  )

  it.scopedLive(
    "a consumer name shared by two runners handles each event once; a name per runner handles every event on each",
    () =>
      Effect.gen(function*() {
        const names = yield* freshStream
        const a = yield* runner(settings(names))
        const b = yield* runner(settings(names))
        const total = 20
        const handled = yield* Ref.make<Record<string, Array<string>>>({})
        const allSeen = yield* Deferred.make<void>()
        const record = (consumer: string) => (e: BusEvent) =>
          Ref.updateAndGet(handled, (m) => ({ ...m, [consumer]: [...(m[consumer] ?? []), idOf(e)] })).pipe(
            Effect.flatMap((m) => {
              const shared = [...(m["shared-a"] ?? []), ...(m["shared-b"] ?? [])]
              const done = new Set(shared).size === total && m["own-a"]?.length === total &&
                m["own-b"]?.length === total
              return done ? Deferred.succeed(allSeen, undefined) : Effect.void
            })
          )
        // The handler knows which runner it runs on; the consumer name is what the bus sees.
        yield* Effect.forkScoped(a.consume("webhooks", record("shared-a")))
        yield* Effect.forkScoped(b.consume("webhooks", record("shared-b")))
        yield* Effect.forkScoped(a.consume("audit-a", record("own-a")))
        yield* Effect.forkScoped(b.consume("audit-b", record("own-b")))
        yield* settle
        for (const id of ids("a", total / 2)) yield* a.publish(event(id))
        for (const id of ids("b", total / 2)) yield* b.publish(event(id))
        yield* Deferred.await(allSeen).pipe(Effect.timeout(within))

        const m = yield* Ref.get(handled)
        const expected = sorted([...ids("a", total / 2), ...ids("b", total / 2)])
        // Once over both runners: no event handled by both, none handled twice.
        expect(sorted([...(m["shared-a"] ?? []), ...(m["shared-b"] ?? [])])).toEqual(expected)
        expect(sorted(m["own-a"]!)).toEqual(expected)
        expect(sorted(m["own-b"]!)).toEqual(expected)
      }),
    30_000
  )

  it.scopedLive("[bus] backend = \"nats\" in the config gives the NATS layer", () =>
    Effect.gen(function*() {
      const names = yield* freshStream
      const config = makeConfig({ bus: { backend: "nats", nats: { url: natsUrl, ...names } } })
      const configured = yield* Effect.map(
        Layer.build(Bus.fromConfig.pipe(Layer.provide(Layer.succeed(BusSettings, config.bus)))),
        Context.get(Bus)
      )
      const other = yield* runner(settings(names))
      const seen = yield* collect(other, 2)
      yield* settle
      for (const id of ids("c", 2)) yield* configured.publish(event(id))
      expect(sorted((yield* Fiber.join(seen).pipe(Effect.timeout(within))).map(idOf))).toEqual(ids("c", 2))
    }), 30_000)

  it.scopedLive("a durable consumer gets the events published while it was not running", () =>
    Effect.gen(function*() {
      const names = yield* freshStream
      const a = yield* runner(settings(names))
      const b = yield* runner(settings(names))
      const seen = yield* Ref.make<Array<string>>([])
      const first = yield* Deferred.make<void>()
      const rest = yield* Deferred.make<void>()
      const handle = (e: BusEvent) =>
        Ref.updateAndGet(seen, (xs) => [...xs, idOf(e)]).pipe(
          Effect.flatMap((xs) =>
            Effect.zipRight(
              xs.length >= 1 ? Deferred.succeed(first, undefined) : Effect.void,
              xs.length >= 4 ? Deferred.succeed(rest, undefined) : Effect.void
            )
          )
        )
      const consumer = yield* Effect.fork(b.consume("webhooks", handle))
      yield* settle
      yield* a.publish(event("before"))
      yield* Deferred.await(first).pipe(Effect.timeout(within))
      yield* Fiber.interrupt(consumer)
      for (const id of ids("while-away", 3)) yield* a.publish(event(id))
      yield* Effect.forkScoped(b.consume("webhooks", handle))
      // The stopped consumer's last pull request may still be open on the server and take these
      // events into a closed inbox: they come back once their ack wait (30 s) has passed.
      yield* Deferred.await(rest).pipe(Effect.timeout("45 seconds"))
      expect(yield* Ref.get(seen)).toEqual(["before", ...ids("while-away", 3)])
    }), 60_000)

  it.scopedLive(
    "events published before NATS is reachable are buffered and delivered once it is",
    () =>
      Effect.gen(function*() {
        const names = yield* freshStream
        const proxy = yield* tcpProxy(natsTarget, 0, false)
        const watcher = yield* runner(settings(names))
        const seen = yield* collect(watcher, 5)
        yield* settle
        // This runner starts while its NATS address refuses connections.
        const late = yield* runner(settings(names, { url: `nats://127.0.0.1:${proxy.port}` }))
        for (const id of ids("early", 5)) yield* late.publish(event(id))
        yield* proxy.start
        expect(sorted((yield* Fiber.join(seen).pipe(Effect.timeout(within))).map(idOf))).toEqual(ids("early", 5))
      }),
    30_000
  )

  it.scopedLive(
    "NATS going away and coming back: events published meanwhile reach every subscriber once",
    () =>
      Effect.gen(function*() {
        const names = yield* freshStream
        const proxy = yield* tcpProxy(natsTarget)
        const behindProxy = yield* runner(settings(names, { url: `nats://127.0.0.1:${proxy.port}` }))
        const direct = yield* runner(settings(names))
        const onDirect = yield* collect(direct, 8)
        const onProxied = yield* collect(behindProxy, 8)
        yield* settle
        for (const id of ids("up", 3)) yield* behindProxy.publish(event(id))
        yield* proxy.stop
        for (const id of ids("down", 5)) yield* behindProxy.publish(event(id))
        yield* proxy.start
        const expected = sorted([...ids("up", 3), ...ids("down", 5)])
        expect(sorted((yield* Fiber.join(onDirect).pipe(Effect.timeout(within))).map(idOf))).toEqual(expected)
        expect(sorted((yield* Fiber.join(onProxied).pipe(Effect.timeout(within))).map(idOf))).toEqual(expected)
      }),
    40_000
  )

  it.scoped("past the buffer bound, events are dropped, counted, and logged at a bounded rate", () => {
    const warnings: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(String(message))
    })
    return Effect.gen(function*() {
      const names = yield* freshStream
      const port = yield* closedPort
      const runnerScope = yield* Scope.make()
      const bus = yield* runner(settings(names, { url: `nats://127.0.0.1:${port}`, max_buffered_events: 5 })).pipe(
        Scope.extend(runnerScope)
      )
      const droppedBefore = (yield* Metric.value(Metrics.busDropped)).count
      const drops = () => Metric.value(Metrics.busDropped).pipe(Effect.map((c) => c.count - droppedBefore))
      const dropWarnings = Effect.sync(() => warnings.filter((m) => m.includes("dropped")).length)

      // Nothing leaves while NATS is unreachable: 5 fit, 7 are dropped, one warning says so.
      for (const id of ids("e", 12)) yield* bus.publish(event(id))
      expect(yield* drops()).toBe(7)
      expect(yield* dropWarnings).toBe(1)
      // The next warning comes only after the report interval.
      yield* TestClock.adjust(Duration.seconds(10))
      yield* bus.publish(event("late"))
      expect(yield* drops()).toBe(8)
      expect(yield* dropWarnings).toBe(2)
      // At shutdown the buffered 5 get a short while to be sent, then count as dropped too.
      const closing = yield* Effect.fork(Scope.close(runnerScope, Exit.void))
      // The clock moves on until the shutdown is over (it sleeps only once it got there).
      while (Option.isNone(yield* Fiber.poll(closing))) {
        yield* TestClock.adjust(Duration.seconds(1))
        yield* Effect.promise(() => setTimeout(10))
      }
      expect(yield* drops()).toBe(13)
      expect(yield* dropWarnings).toBe(3)
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  }, 30_000)

  it.scopedLive("events published just before shutdown still reach NATS", () =>
    Effect.gen(function*() {
      const names = yield* freshStream
      const watcher = yield* runner(settings(names))
      const seen = yield* collect(watcher, 3)
      yield* settle
      yield* Effect.scoped(Effect.gen(function*() {
        const leaving = yield* runner(settings(names))
        for (const id of ids("last", 3)) yield* leaving.publish(event(id))
      }))
      expect(sorted((yield* Fiber.join(seen).pipe(Effect.timeout(within))).map(idOf))).toEqual(ids("last", 3))
    }), 30_000)
})
