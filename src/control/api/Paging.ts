/**
 * Pages of list endpoints: `limit` rows from an opaque `cursor` (an offset today; clients only pass
 * back what they were given).
 */
import { Effect } from "effect"
import { InvalidRequest, type PageParams } from "./Api.ts"

export const defaultLimit = 50

export interface Page {
  readonly limit: number
  readonly offset: number
}

export const pageOf = (params: PageParams): Effect.Effect<Page, InvalidRequest> => {
  const limit = params.limit ?? defaultLimit
  if (params.cursor === undefined) return Effect.succeed({ limit, offset: 0 })
  const offset = /^\d{1,9}$/.test(params.cursor) ? Number(params.cursor) : undefined
  return offset === undefined
    ? Effect.fail(new InvalidRequest({ field: "cursor", message: "not a cursor this API returned" }))
    : Effect.succeed({ limit, offset })
}

/** The page's items, and the cursor of the next page when there may be one (one more row was read). */
export const pageResult = <A>(rows: ReadonlyArray<A>, page: Page) => ({
  items: rows.slice(0, page.limit),
  nextCursor: rows.length > page.limit ? String(page.offset + page.limit) : null
})
