/**
 * `memory_save`, `memory_get`, `memory_search`, `memory_list`, `memory_delete`: the model's notes.
 * The owner is always `ToolContext.ownerId`; no argument can name another owner (and unknown
 * arguments are rejected), so one user's notes are out of reach of another's conversation.
 */
import { Effect, Option, Schema } from "effect"
import { type NoteQuotaExceeded, type NotesError, NotesStore } from "../notes/NotesStore.ts"
import * as Tool from "../Tool.ts"
import type { ToolGroup } from "../ToolRegistry.ts"
import { type KvMemoryConfig, ToolsSettings } from "../ToolsConfig.ts"

export const maxTitleLength = 200
export const maxMetadataLength = 10_000
const maxQueryLength = 500

const Title = Schema.String.pipe(
  Schema.filter((s) => s.trim().length > 0 || "must not be empty"),
  Schema.maxLength(maxTitleLength)
)

const IsoDateTime = Schema.String.pipe(
  Schema.filter((s) =>
    /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s.trim()) &&
      !Number.isNaN(Date.parse(s.trim())) ||
    "must be an ISO-8601 date-time such as 2030-01-31T18:00:00Z"
  )
)

const Limit = Schema.Int.pipe(Schema.positive())
const Offset = Schema.Int.pipe(Schema.nonNegative())

const storageFailed = (error: NotesError) =>
  Effect.logError("notes storage failed", error._tag === "SqlError" ? error.cause : error).pipe(
    Effect.zipRight(Tool.fail("The notes storage failed; try again later"))
  )

export const make = (store: NotesStore, config: KvMemoryConfig): ReadonlyArray<Tool.Tool> => {
  const page = (limit: number | undefined, offset: number | undefined) => ({
    limit: Math.min(limit ?? config.default_limit, config.max_limit),
    offset: offset ?? 0
  })
  const limitDescription = `How many results (default ${config.default_limit}, at most ${config.max_limit})`

  const save = Tool.make({
    name: "memory_save",
    description:
      "Save a note under a title for later. Saving again under the same title (case-insensitive) replaces its data.",
    parameters: Schema.Struct({
      title: Tool.param(Title, `Short unique title, at most ${maxTitleLength} characters`),
      data: Tool.param(Schema.String, `The content to remember, at most ${config.max_note_bytes} bytes (UTF-8)`),
      metadata: Tool.optionalParam(
        Schema.Record({ key: Schema.String, value: Schema.Unknown }),
        "JSON object of extra fields (tags, source...); kept on update if omitted"
      ),
      expires_at: Tool.optionalParam(
        Schema.NullOr(IsoDateTime),
        "ISO-8601 time after which the note is forgotten, e.g. 2030-01-31T18:00:00Z; null removes an expiry"
      )
    }),
    run: (args, ctx) =>
      Effect.gen(function*() {
        const bytes = Buffer.byteLength(args.data, "utf8")
        if (bytes > config.max_note_bytes) {
          return yield* Tool.fail(
            `data is ${bytes} bytes; a note may hold at most ${config.max_note_bytes} ([tools.kv_memory] max_note_bytes)`,
            "data"
          )
        }
        if (args.metadata !== undefined && JSON.stringify(args.metadata).length > maxMetadataLength) {
          return yield* Tool.fail(`metadata is larger than ${maxMetadataLength} characters of JSON`, "metadata")
        }
        const now = yield* Tool.currentTime(ctx)
        let expiresAt: Date | null | undefined = undefined
        if (args.expires_at !== undefined) {
          expiresAt = args.expires_at === null ? null : new Date(Date.parse(args.expires_at.trim()))
          if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
            return yield* Tool.fail(`expires_at ${args.expires_at} is in the past`, "expires_at")
          }
        }
        const { created, note } = yield* store.save(ctx.ownerId, {
          title: args.title,
          data: args.data,
          ...(args.metadata === undefined ? {} : { metadata: args.metadata }),
          ...(expiresAt === undefined ? {} : { expiresAt })
        }, { maxNotes: config.max_notes_per_owner })
        return { saved: true, created, title: note.title, expires_at: note.expiresAt }
      }).pipe(
        Effect.catchTags({ SqlError: storageFailed, ParseError: storageFailed }),
        Effect.catchTag("NoteQuotaExceeded", (quota: NoteQuotaExceeded) =>
          Tool.fail(
            `you already have ${quota.count} notes, the most allowed ([tools.kv_memory] max_notes_per_owner = ` +
              `${quota.max}); delete one or update an existing note instead`,
            "title"
          ))
      )
  })

  const get = Tool.make({
    name: "memory_get",
    description: "Read a saved note by its title (case-insensitive). On a miss, similar titles are suggested.",
    parameters: Schema.Struct({
      title: Tool.param(Title, "Title of the note")
    }),
    run: (args, ctx) =>
      Effect.gen(function*() {
        const found = yield* store.get(ctx.ownerId, args.title)
        if (Option.isSome(found)) {
          const note = found.value
          return {
            found: true,
            title: note.title,
            data: note.data,
            metadata: note.metadata,
            created_at: note.createdAt,
            updated_at: note.updatedAt,
            expires_at: note.expiresAt
          }
        }
        return { found: false, title: args.title, suggestions: yield* store.suggest(ctx.ownerId, args.title) }
      }).pipe(Effect.catchTags({ SqlError: storageFailed, ParseError: storageFailed }))
  })

  const search = Tool.make({
    name: "memory_search",
    description: "Search saved notes by words in their title or content; best matches first.",
    parameters: Schema.Struct({
      query: Tool.param(Schema.String.pipe(Schema.maxLength(maxQueryLength)), "Words to look for (prefixes match too)"),
      limit: Tool.optionalParam(Limit, limitDescription),
      offset: Tool.optionalParam(Offset, "How many results to skip (default 0)")
    }),
    run: (args, ctx) =>
      Effect.gen(function*() {
        if (!/[\p{L}\p{N}]/u.test(args.query)) {
          return yield* Tool.fail("the query needs at least one letter or digit", "query")
        }
        const request = page(args.limit, args.offset)
        const result = yield* store.search(ctx.ownerId, args.query, request)
        return {
          results: result.items.map((hit) => ({
            title: hit.title,
            snippet: hit.snippet,
            updated_at: hit.updatedAt,
            match: hit.match
          })),
          limit: request.limit,
          offset: request.offset,
          has_more: result.hasMore
        }
      }).pipe(Effect.catchTags({ SqlError: storageFailed, ParseError: storageFailed }))
  })

  const list = Tool.make({
    name: "memory_list",
    description: "List the titles of saved notes, alphabetically, a page at a time.",
    parameters: Schema.Struct({
      limit: Tool.optionalParam(Limit, limitDescription),
      offset: Tool.optionalParam(Offset, "How many titles to skip (default 0)")
    }),
    run: (args, ctx) =>
      Effect.gen(function*() {
        const request = page(args.limit, args.offset)
        const result = yield* store.list(ctx.ownerId, request)
        return {
          notes: result.items.map((n) => ({ title: n.title, updated_at: n.updatedAt, expires_at: n.expiresAt })),
          total: result.total,
          limit: request.limit,
          offset: request.offset,
          has_more: result.hasMore
        }
      }).pipe(Effect.catchTags({ SqlError: storageFailed, ParseError: storageFailed }))
  })

  const remove = Tool.make({
    name: "memory_delete",
    description: "Delete a saved note by its title (case-insensitive).",
    parameters: Schema.Struct({
      title: Tool.param(Title, "Title of the note to delete")
    }),
    run: (args, ctx) =>
      Effect.gen(function*() {
        if (yield* store.delete(ctx.ownerId, args.title)) return { deleted: true, title: args.title }
        return { deleted: false, title: args.title, suggestions: yield* store.suggest(ctx.ownerId, args.title) }
      }).pipe(Effect.catchTags({ SqlError: storageFailed, ParseError: storageFailed }))
  })

  return [save, get, search, list, remove]
}

/** The notes tools, or none when `[tools.kv_memory] enabled = false`. */
export const group: ToolGroup<ToolsSettings | NotesStore> = Effect.gen(function*() {
  const { tools } = yield* ToolsSettings
  if (!tools.kv_memory.enabled) return []
  return make(yield* NotesStore, tools.kv_memory)
})
