/** Shared bits of the tool tests: a tool context, a tool call, a migrated notes database. */
import { NodeContext } from "@effect/platform-node"
import { Migrator } from "@effect/sql"
import { SqliteClient, SqliteMigrator } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { ToolCall } from "../../src/domain/ChatMessage.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import notesMigration from "../../src/storage/migrations/0003_notes.ts"
import userTimezonesMigration from "../../src/storage/migrations/0008_user_timezones.ts"
import { NotesStore } from "../../src/tools/notes/NotesStore.ts"
import { UserTimezones } from "../../src/tools/timezone/UserTimezones.ts"
import type { ToolContext } from "../../src/tools/Tool.ts"

export const contextFor = (ownerId: string, extra: Partial<ToolContext> = {}): ToolContext => ({
  ownerId,
  conversation: { channel: "console", chatId: ownerId },
  conversationKey: conversationKey("console", ownerId),
  ...extra
})

let callCounter = 0
export const callOf = (name: string, args: unknown, id = `call_${++callCounter}`): ToolCall => ({
  id,
  type: "function",
  function: { name, arguments: typeof args === "string" ? args : JSON.stringify(args) }
})

/** A fresh SQLite file in a temp dir, migrated for notes and time zones, removed afterwards. */
export const notesDatabase = Layer.unwrapScoped(
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "minibot-notes-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    return SqliteMigrator.layer({
      loader: Migrator.fromRecord({
        "0003_notes": notesMigration,
        "0008_user_timezones": userTimezonesMigration
      })
    }).pipe(
      Layer.provideMerge(SqliteClient.layer({ filename: path.join(dir, "minibot.db") })),
      Layer.provide(NodeContext.layer)
    )
  })
)

/** The notes store and the owners' time zones (which `current_datetime` reads) on one fresh database. */
export const notesStoreLayer = Layer.merge(NotesStore.Default, UserTimezones.Default).pipe(
  Layer.provideMerge(notesDatabase)
)

/** The parsed JSON text the registry answers with. */
export const parse = (content: string) =>
  JSON.parse(content) as { ok: boolean; result?: any; error?: string; field?: string }
