import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { AppConfig, makeConfig } from "../../src/config/Config.ts"
import * as Chat from "../../src/domain/ChatMessage.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import { HistoryStore } from "../../src/memory/HistoryStore.ts"
import * as Database from "../../src/storage/Database.ts"
import { tempDir } from "../support/Harness.ts"

const alice = conversationKey("console", "alice")
const bob = conversationKey("telegram", "-1001")

const exchange = (q: string) => [Chat.user(q), Chat.assistant(`a:${q}`)]

const backends = {
  in_memory: (max: number) =>
    HistoryStore.memory.pipe(
      Layer.provide(AppConfig.layer(makeConfig({ memory: { backend: "in_memory", max_history_messages: max } })))
    ),
  sqlite: (max: number) =>
    HistoryStore.sqlite.pipe(
      Layer.provide(Database.sqliteAt(Database.databaseFile(tempDir()))),
      Layer.provide(AppConfig.layer(makeConfig({ memory: { max_history_messages: max } })))
    )
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
