import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Redacted } from "effect"
import { createClient } from "redis"
import { AppConfig, makeConfig } from "../../src/config/Config.ts"
import * as Chat from "../../src/domain/ChatMessage.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import { HistoryStore } from "../../src/memory/HistoryStore.ts"
import * as Database from "../../src/storage/Database.ts"
import { tempDir } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"

/** The Redis server of the tests; unreachable, the Redis tests fail naming it (none is skipped). */
const testRedisUrl = process.env.MINIBOT_TEST_REDIS ?? "redis://127.0.0.1:6379"

/** A prefix no other test (or run) uses, so each test starts from empty lists. */
const freshPrefix = () => `minibot-test:${Math.random().toString(36).slice(2, 10)}:`

const redisStore = (
  memory: { readonly max_history_messages?: number; readonly ttl_seconds?: number },
  prefix: string
) =>
  HistoryStore.redis.pipe(
    Layer.mapError((e) =>
      new Error(`${e.message}; the Redis tests need a server at ${testRedisUrl} (MINIBOT_TEST_REDIS)`)
    ),
    Layer.provide(AppConfig.layer(makeConfig({
      memory: {
        backend: "redis",
        ...(memory.max_history_messages === undefined ? {} : { max_history_messages: memory.max_history_messages }),
        redis: {
          url: testRedisUrl,
          key_prefix: prefix,
          ...(memory.ttl_seconds === undefined ? {} : { ttl_seconds: memory.ttl_seconds })
        }
      }
    })))
  )

/** A plain client on the test server, to look at keys as Redis holds them. */
const rawRedis = Effect.acquireRelease(
  Effect.tryPromise({
    try: () =>
      createClient({ url: testRedisUrl, socket: { reconnectStrategy: false } }).on("error", () => {}).connect(),
    catch: (cause) => new Error(`the Redis tests need a server at ${testRedisUrl} (MINIBOT_TEST_REDIS): ${cause}`)
  }),
  (client) => Effect.promise(() => client.close())
)

/** Deletes every key under `prefix` when the scope closes (the TTL is the fallback after a crash). */
const dropAfterwards = (prefix: string) =>
  Layer.scopedDiscard(Effect.flatMap(rawRedis, (redis) =>
    Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const keys = await redis.keys(`${prefix}*`)
        if (keys.length > 0) await redis.del(keys)
      })
    )))

/** Runs `f` with a fresh prefix whose keys are deleted afterwards. */
const withFreshPrefix = <A, E, R>(f: (prefix: string) => Effect.Effect<A, E, R>) => {
  const prefix = freshPrefix()
  return f(prefix).pipe(Effect.provide(dropAfterwards(prefix)))
}

const alice = conversationKey("console", "alice")
const bob = conversationKey("telegram", "-1001")

const exchange = (q: string) => [Chat.user(q), Chat.assistant(`a:${q}`)]

const backends: Record<string, (max: number) => Layer.Layer<HistoryStore, unknown>> = {
  in_memory: (max: number) =>
    HistoryStore.memory.pipe(
      Layer.provide(AppConfig.layer(makeConfig({ memory: { backend: "in_memory", max_history_messages: max } })))
    ),
  sqlite: (max: number) =>
    HistoryStore.sqlite.pipe(
      Layer.provide(Database.sqliteAt(Database.databaseFile(tempDir()))),
      Layer.provide(AppConfig.layer(makeConfig({ memory: { max_history_messages: max } })))
    ),
  // The SQL layer on the real Postgres server, in a database of its own.
  Postgres: (max: number) =>
    Layer.unwrapScoped(
      Effect.map(freshDatabase, (db) =>
        HistoryStore.sqlite.pipe(Layer.provide(Database.postgresAt(Redacted.make(db.url)))))
    ).pipe(
      Layer.provide(AppConfig.layer(makeConfig({ memory: { max_history_messages: max } })))
    ),
  // A short TTL too, so nothing a test writes outlives it for long.
  Redis: (max: number) => {
    const prefix = freshPrefix()
    return Layer.merge(redisStore({ max_history_messages: max, ttl_seconds: 600 }, prefix), dropAfterwards(prefix))
  }
}

for (const [name, make] of Object.entries(backends)) {
  describe(`HistoryStore (${name})`, () => {
    it.effect("returns the last N turns of one conversation, oldest first", () =>
      Effect.gen(function*() {
        const store = yield* HistoryStore
        for (const q of ["one", "two", "three"]) yield* store.append(alice, `t-${q}`, exchange(q))
        expect(yield* store.window(alice, 2)).toEqual([...exchange("two"), ...exchange("three")])
        expect(yield* store.window(alice, 10)).toHaveLength(6)
        expect(yield* store.window(alice, 0)).toEqual([])
      }).pipe(Effect.provide(make(100))))

    it.effect("keeps conversations apart", () =>
      Effect.gen(function*() {
        const store = yield* HistoryStore
        yield* store.append(alice, "t1", exchange("alice secret"))
        yield* store.append(bob, "t1", exchange("bob secret"))
        expect(yield* store.window(alice, 5)).toEqual(exchange("alice secret"))
        expect(yield* store.window(bob, 5)).toEqual(exchange("bob secret"))
        expect(yield* store.clear(alice)).toBe(2)
        expect(yield* store.window(alice, 5)).toEqual([])
        expect(yield* store.window(bob, 5)).toEqual(exchange("bob secret"))
      }).pipe(Effect.provide(make(100))))

    it.effect("a window never separates a tool call from its result", () =>
      Effect.gen(function*() {
        const store = yield* HistoryStore
        const call = {
          id: "call_1",
          type: "function" as const,
          function: { name: "calculator", arguments: "{\"expression\":\"2+2\"}" }
        }
        const toolTurn = [
          Chat.user("2+2?"),
          Chat.assistant(null, [call]),
          Chat.toolResult("call_1", "{\"ok\":true,\"result\":4}"),
          Chat.assistant("4")
        ]
        yield* store.append(alice, "t1", exchange("before"))
        yield* store.append(alice, "t2", toolTurn)
        yield* store.append(alice, "t3", exchange("after"))
        expect(yield* store.window(alice, 2)).toEqual([...toolTurn, ...exchange("after")])
        // With their turn ids, for what a summary covers.
        expect(yield* store.turns(alice, 2)).toEqual([
          { turnId: "t2", messages: toolTurn },
          { turnId: "t3", messages: exchange("after") }
        ])
        expect(yield* store.turns(alice, 0)).toEqual([])
        expect(yield* store.turns(bob, 5)).toEqual([])
      }).pipe(Effect.provide(make(100))))

    it.effect("max_history_messages bounds storage by dropping whole old turns", () =>
      Effect.gen(function*() {
        const store = yield* HistoryStore
        for (let i = 1; i <= 6; i++) yield* store.append(alice, `t${i}`, exchange(`q${i}`))
        const info = yield* store.info(alice)
        expect(info.messages).toBe(4)
        expect(info.turns).toBe(2)
        expect(yield* store.window(alice, 10)).toEqual([...exchange("q5"), ...exchange("q6")])
      }).pipe(Effect.provide(make(5))))

    it.effect("info and trim", () =>
      Effect.gen(function*() {
        const store = yield* HistoryStore
        expect(yield* store.info(alice)).toEqual({
          messages: 0,
          turns: 0,
          oldest: Option.none(),
          newest: Option.none()
        })
        for (let i = 1; i <= 4; i++) yield* store.append(alice, `t${i}`, exchange(`q${i}`))
        const info = yield* store.info(alice)
        expect(info.messages).toBe(8)
        expect(Option.isSome(info.newest)).toBe(true)
        expect(yield* store.trim(alice, 1)).toBe(6)
        expect(yield* store.window(alice, 10)).toEqual(exchange("q4"))
      }).pipe(Effect.provide(make(100))))
  })
}

describe("HistoryStore (sqlite) durability", () => {
  it.effect("survives closing and reopening the database file", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const layer = HistoryStore.sqlite.pipe(
        Layer.provide(Database.sqliteAt(Database.databaseFile(dir))),
        Layer.provide(AppConfig.layer(makeConfig({})))
      )
      yield* Effect.flatMap(HistoryStore, (s) => s.append(alice, "t1", exchange("kept"))).pipe(Effect.provide(layer))
      const after = yield* Effect.flatMap(HistoryStore, (s) => s.window(alice, 5)).pipe(Effect.provide(layer))
      expect(after).toEqual(exchange("kept"))
    }))
})

describe("HistoryStore (Redis)", () => {
  it.effect("survives a restart: a new client on the same server sees the history", () =>
    withFreshPrefix((prefix) =>
      Effect.gen(function*() {
        yield* Effect.flatMap(HistoryStore, (s) => s.append(alice, "t1", exchange("kept"))).pipe(
          Effect.provide(redisStore({ ttl_seconds: 600 }, prefix))
        )
        const after = yield* Effect.flatMap(HistoryStore, (s) => s.window(alice, 5)).pipe(
          Effect.provide(redisStore({ ttl_seconds: 600 }, prefix))
        )
        expect(after).toEqual(exchange("kept"))
      })
    ))

  it.scoped("keys live under key_prefix; a write gives them ttl_seconds again, none without it", () =>
    Effect.gen(function*() {
      const redis = yield* rawRedis
      const keysUnder = (prefix: string) =>
        Effect.promise(() => redis.keys(`${prefix}*`)).pipe(Effect.map((k) => k.sort()))
      const ttls = (keys: ReadonlyArray<string>) => Effect.forEach(keys, (k) => Effect.promise(() => redis.ttl(k)))

      const withTtl = freshPrefix()
      yield* Layer.build(dropAfterwards(withTtl))
      yield* Effect.flatMap(HistoryStore, (s) => s.append(alice, "t1", exchange("q"))).pipe(
        Effect.provide(redisStore({ ttl_seconds: 60 }, withTtl))
      )
      const keys = yield* keysUnder(withTtl)
      expect(keys).toEqual([`${withTtl}history:{${alice}}:messages`, `${withTtl}history:{${alice}}:turns`])
      yield* Effect.forEach(keys, (k) => Effect.promise(() => redis.expire(k, 5)))
      yield* Effect.flatMap(HistoryStore, (s) => s.append(alice, "t2", exchange("again"))).pipe(
        Effect.provide(redisStore({ ttl_seconds: 60 }, withTtl))
      )
      for (const ttl of yield* ttls(keys)) {
        expect(ttl).toBeGreaterThan(5)
        expect(ttl).toBeLessThanOrEqual(60)
      }

      const forever = freshPrefix()
      yield* Effect.flatMap(HistoryStore, (s) => s.append(alice, "t1", exchange("q"))).pipe(
        Effect.provide(redisStore({}, forever))
      )
      const foreverKeys = yield* keysUnder(forever)
      expect(foreverKeys).toHaveLength(2)
      expect(yield* ttls(foreverKeys)).toEqual([-1, -1])
      yield* Effect.promise(() => redis.del(foreverKeys))
    }))

  it.effect("a turn appended beside another writer's turn stays whole", () =>
    withFreshPrefix((prefix) =>
      Effect.gen(function*() {
        const store = yield* HistoryStore
        const turn = (n: number) => [Chat.user(`q${n}`), Chat.assistant(`a${n}`), Chat.assistant(`b${n}`)]
        yield* Effect.all(Array.from({ length: 20 }, (_, n) => store.append(alice, `t${n}`, turn(n))), {
          concurrency: "unbounded"
        })
        const all = yield* store.window(alice, 100)
        expect(all).toHaveLength(60)
        for (let i = 0; i < all.length; i += 3) {
          const n = (all[i] as { content: string }).content.slice(1)
          expect(all.slice(i, i + 3)).toEqual(turn(Number(n)))
        }
      }).pipe(Effect.provide(redisStore({ ttl_seconds: 600 }, prefix)))
    ))

  it.effect("an unreachable server is an error at start naming memory.redis.url and the address", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.provide(
        HistoryStore,
        HistoryStore.redis.pipe(Layer.provide(AppConfig.layer(makeConfig({
          memory: { backend: "redis", redis: { url: "redis://:hunter2@127.0.0.1:1" } }
        }))))
      ))
      expect(Exit.isFailure(exit)).toBe(true)
      const message = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      expect(message).toContain("memory.redis.url")
      expect(message).toContain("127.0.0.1:1")
      expect(message).not.toContain("hunter2")
    }))
})
