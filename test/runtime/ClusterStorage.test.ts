/**
 * The SQL in src/runtime/ClusterStorage.ts reads @effect/cluster's private tables. These tests
 * fail when an upgrade of the library changes what that SQL relies on.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ClusterStatus from "../../src/runtime/ClusterStatus.ts"
import { shardRanges } from "../../src/runtime/ClusterStatus.ts"
import * as ClusterStorage from "../../src/runtime/ClusterStorage.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"

const installedVersion = () =>
  JSON.parse(fs.readFileSync(path.join("node_modules", "@effect", "cluster", "package.json"), "utf8")).version

describe("cluster storage", () => {
  it("is written against the installed @effect/cluster", () => {
    expect(installedVersion()).toBe(ClusterStorage.clusterVersion)
  })

  it.scopedLive("every column it uses exists in the cluster's SQLite tables, and it counts and finds messages", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make({ latencyMs: 300 })
      const h = yield* makeHarness(fake)
      expect(yield* h.use(ClusterStorage.missingColumns)).toEqual([])

      const first = yield* h.send("c", "one")
      yield* h.send("c", "two")
      // Both stored, the first one running: two not yet processed.
      expect(yield* h.use(ClusterStorage.countUnprocessed("Conversation", "console:c", "Inbound"))).toBe(2)
      const id = ClusterStorage.messageId("Conversation", "console:c", "Inbound", first)
      expect(yield* h.use(ClusterStorage.unprocessedAmong([id, "Conversation/console:c/Inbound/nope"])))
        .toEqual(new Set([id]))
      yield* h.waitForReplies(2)
      expect(yield* h.use(ClusterStorage.countUnprocessed("Conversation", "console:c", "Inbound"))).toBe(0)
    }))

  it.scopedLive("every column it uses exists in the cluster's Postgres tables", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, { config: { storage: { backend: "postgres", postgres_url: db.url } } })
      expect(yield* h.use(ClusterStorage.missingColumns)).toEqual([])
    }))

  it.scopedLive("on Postgres an unprocessed message read longer ago than the limit is readable again; one read recently is left", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const fake = yield* FakeLlm.make({ latencyMs: 60_000 })
      const h = yield* makeHarness(fake, { config: { storage: { backend: "postgres", postgres_url: db.url } } })
      const [stale, recent] = [yield* h.send("a", "one"), yield* h.send("b", "two")]
      const idOf = (conversation: string, message: string) =>
        ClusterStorage.messageId("Conversation", `console:${conversation}`, "Inbound", message)
      const lastRead = (id: string) =>
        h.use(Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<{ readonly released: boolean }>`
            SELECT last_read IS NULL AS released FROM cluster_messages WHERE message_id = ${id}
          `)).pipe(Effect.map((rows) => rows[0]?.released))
      yield* h.use(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.all([
          sql`UPDATE cluster_messages SET last_read = NOW() - INTERVAL '2 minutes' WHERE message_id = ${
            idOf("a", stale)
          }`,
          sql`UPDATE cluster_messages SET last_read = NOW() WHERE message_id = ${idOf("b", recent)}`
        ])))
      yield* h.use(ClusterStorage.releaseStaleReads(30_000))
      expect(yield* lastRead(idOf("a", stale))).toBe(true)
      expect(yield* lastRead(idOf("b", recent))).toBe(false)
    }))
})

describe("cluster status", () => {
  it("shows shard numbers as ranges", () => {
    expect(shardRanges([])).toBe("")
    expect(shardRanges([7])).toBe("7")
    expect(shardRanges([1, 2, 3, 5, 9, 10])).toBe("1-3, 5, 9-10")
  })

  it.scopedLive("on SQLite there is one process and no runners to list", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake)
      expect(yield* h.use(ClusterStatus.read)).toEqual({ backend: "sqlite", runners: [], telegramPoller: null })
    }))
})
