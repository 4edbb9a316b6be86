/** A job scheduled in a group before groups owned their jobs becomes the group's on upgrade. */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Migrator, SqlClient } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as path from "node:path"
import * as Database from "../../src/storage/Database.ts"
import { migrations } from "../../src/storage/migrations/index.ts"
import { tempDir } from "../support/Harness.ts"

const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < "0006"))

const job = (id: string, chatId: string, ownerId: string) => ({
  id,
  owner_id: ownerId,
  channel: "telegram",
  chat_id: chatId,
  user_id: "42",
  strategy: "llm_prompt",
  payload: "say my PIN",
  recurrence: "interval",
  interval_seconds: 60,
  timezone: "UTC",
  run_at: 0,
  next_run_at: 60_000,
  notify: 1,
  status: "pending",
  created_at: 0,
  updated_at: 0
})

describe("migration 0006: jobs scheduled in groups", () => {
  it.effect("a person's job in a group becomes the group's; private ones stay the person's", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir("minibot-migrate-"), "minibot.db")
      const old = SqliteMigrator.layer({ loader: Migrator.fromRecord(before) }).pipe(
        Layer.provideMerge(SqliteClient.layer({ filename: file })),
        Layer.provide(NodeContext.layer)
      )
      yield* Effect.provide(
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql`INSERT INTO scheduled_jobs ${
              sql.insert([job("jgroup", "-1001", "telegram:42"), job("jprivate", "42", "telegram:42")])
            }`
        ),
        old
      )
      const owners = yield* Effect.provide(
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ id: string; owner_id: string }>`SELECT id, owner_id FROM scheduled_jobs ORDER BY id`
        ),
        Database.sqliteAt(file)
      )
      expect(owners).toEqual([
        { id: "jgroup", owner_id: "telegram:chat:-1001" },
        { id: "jprivate", owner_id: "telegram:42" }
      ])
    }))
})
