/**
 * `/api/notes`: one owner's notes (the owner is a required filter: notes are never listed across
 * people), a search among them, and deleting one by title.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { NotesStore } from "../../tools/notes/NotesStore.ts"
import { Api, NotFound } from "./Api.ts"
import { pageOf } from "./Paging.ts"

export const NotesHandlers = HttpApiBuilder.group(Api, "notes", (handlers) =>
  Effect.gen(function*() {
    const notes = yield* NotesStore

    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function*() {
          const page = yield* pageOf(urlParams)
          const next = (hasMore: boolean) => (hasMore ? String(page.offset + page.limit) : null)
          if (urlParams.q !== undefined && urlParams.q.trim() !== "") {
            const hits = yield* notes.search(urlParams.owner, urlParams.q, page).pipe(Effect.orDie)
            return {
              items: hits.items.map((hit) => ({
                title: hit.title,
                updatedAt: hit.updatedAt,
                expiresAt: null,
                snippet: hit.snippet
              })),
              nextCursor: next(hits.hasMore)
            }
          }
          const listed = yield* notes.list(urlParams.owner, page).pipe(Effect.orDie)
          return { items: listed.items, nextCursor: next(listed.hasMore) }
        }))
      .handle("delete", ({ path, urlParams }) =>
        Effect.gen(function*() {
          const deleted = yield* notes.delete(urlParams.owner, path.title).pipe(Effect.orDie)
          if (!deleted) {
            return yield* new NotFound({
              message: `${JSON.stringify(urlParams.owner)} has no note titled ${JSON.stringify(path.title)}`
            })
          }
          yield* Effect.logInfo("note deleted by the operator").pipe(Effect.annotateLogs("owner_id", urlParams.owner))
          return { deleted }
        }))
  }))
