/**
 * `minibot migrate-storage` copies every table of the SQLite schema or leaves it out on purpose:
 * a migration (or an upgrade of @effect/cluster) that adds a table fails here until it is placed.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as path from "node:path"
import * as ClusterStorage from "../../src/runtime/ClusterStorage.ts"
import * as Database from "../../src/storage/Database.ts"
import { copiedTables, leftOutTables } from "../../src/storage/StorageCopy.ts"
import { tempDir } from "../support/Harness.ts"

describe("migrate-storage's tables", () => {
  it.scoped("every table of a daemon's SQLite file is copied or left out on purpose", () =>
    Effect.gen(function*() {
      const tables = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // The tables a daemon's file has: the migrations', and the cluster's mailboxes.
        yield* ClusterStorage.createMessageTables
        const rows = yield* sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
        return rows.map((r) => r.name)
      }).pipe(Effect.provide(Database.sqliteAt(path.join(tempDir(), "minibot.db"))))
      const copied = new Set(copiedTables.map((t) => t.table))
      const leftOut = (name: string) =>
        leftOutTables.some((rule) => (typeof rule === "string" ? rule === name : rule.test(name)))
      expect(tables.filter((name) => !copied.has(name) && !leftOut(name))).toEqual([])
      // And nothing is listed that the schema does not have.
      expect([...copied].filter((name) => !tables.includes(name))).toEqual([])
      expect(tables).toEqual(expect.arrayContaining(["cluster_messages", "cluster_replies", "webhook_deliveries"]))
    }))
})
