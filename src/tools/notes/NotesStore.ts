/**
 * Key/value notes per owner, in SQL. Every operation takes the owner id first and every
 * statement filters on it: the owner comes from the server-side `ToolContext`, never from the
 * model. Titles are unique per owner case-insensitively (`title_key`); expired notes are
 * invisible at once and deleted for good by `purgeExpired`.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Data, Duration, Effect, Layer, Option, type ParseResult, Schedule, Schema } from "effect"
import { CountRow } from "../../storage/Columns.ts"

/** A column renamed from snake_case. */
const column = <A, I>(schema: Schema.Schema<A, I>, key: string) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(key))

/** A note's row: the metadata column holds a JSON object. */
export const Note = Schema.Struct({
  title: Schema.String,
  data: Schema.String,
  metadata: Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  createdAt: column(Schema.String, "created_at"),
  updatedAt: column(Schema.String, "updated_at"),
  expiresAt: column(Schema.NullOr(Schema.String), "expires_at")
})
export type Note = typeof Note.Type

export const NoteSummary = Schema.Struct({
  title: Schema.String,
  updatedAt: column(Schema.String, "updated_at"),
  expiresAt: column(Schema.NullOr(Schema.String), "expires_at")
})
export type NoteSummary = typeof NoteSummary.Type

/** A note or a database failure; a row that does not decode is a `ParseError`. */
export type NotesError = SqlError | ParseResult.ParseError

export interface SearchHit {
  readonly title: string
  /** The passage around the first match (or the start of the note). */
  readonly snippet: string
  readonly updatedAt: string
  /**
   * `full_text`: word/prefix match, ranked (FTS5's bm25 on SQLite, `ts_rank` on Postgres);
   * `partial`: substring match inside a word (SQLite only: Postgres searches its index alone).
   */
  readonly match: "full_text" | "partial"
}

export interface SaveInput {
  readonly title: string
  readonly data: string
  /** Absent: an updated note keeps its metadata. */
  readonly metadata?: Record<string, unknown>
  /** Absent: an updated note keeps its expiry; `null` removes it. */
  readonly expiresAt?: Date | null
}

/** A new note would take its owner past `maxNotes`. */
export class NoteQuotaExceeded extends Data.TaggedError("NoteQuotaExceeded")<{
  readonly count: number
  readonly max: number
}> {}

export interface SaveLimits {
  /** Notes an owner may have: a new title beyond it is refused (updates always pass). */
  readonly maxNotes?: number
}

export interface PageRequest {
  readonly limit: number
  readonly offset: number
}

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly hasMore: boolean
}

/** Case-insensitive identity of a title: NFKC, trimmed, inner whitespace collapsed, lower case. */
export const titleKey = (title: string): string => normalizeTitle(title).toLowerCase()
export const normalizeTitle = (title: string): string => title.normalize("NFKC").trim().replace(/\s+/g, " ")

/** Words of a query as FTS5 sees them (unicode61 splits on anything but letters and digits). */
export const queryTerms = (query: string): ReadonlyArray<string> =>
  [...new Set(query.normalize("NFKC").toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])].slice(0, maxQueryTerms)

const maxQueryTerms = 16
/**
 * A miss compares the title with at most this many others (edit distance is quadratic in the
 * title length): the database picks those sharing its beginning, a word, or being recent.
 */
export const maxSuggestionCandidates = 80
const candidatesPerSource = { prefix: 10, start: 20, words: 20, recent: 20 }
const snippetLength = 160

/** A search hit's row: `tier` 0 is a full-text match, 1 a substring match. */
const HitRow = Schema.Struct({
  title: Schema.String,
  data: Schema.String,
  updated_at: Schema.String,
  tier: Schema.Literal(0, 1)
})

const TitleRow = Schema.Struct({ title: Schema.String, title_key: Schema.String })

/** Runs a query and decodes every row with `schema`. */
const decodeAll = <A, I, E, R>(schema: Schema.Schema<A, I>, query: Effect.Effect<ReadonlyArray<unknown>, E, R>) =>
  Effect.flatMap(query, Schema.decodeUnknown(Schema.Array(schema)))

const nowIso = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

export class NotesStore extends Effect.Service<NotesStore>()("minibot/NotesStore", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const live = (now: string) => sql`(expires_at IS NULL OR expires_at > ${now})`

    const noteByKey = SqlSchema.single({
      Request: Schema.Struct({ ownerId: Schema.String, key: Schema.String }),
      Result: Note,
      execute: ({ key, ownerId }) =>
        sql`SELECT title, data, metadata, created_at, updated_at, expires_at
          FROM notes WHERE owner_id = ${ownerId} AND title_key = ${key}`
    })

    const liveNote = SqlSchema.findOne({
      Request: Schema.Struct({ ownerId: Schema.String, key: Schema.String, now: Schema.String }),
      Result: Note,
      execute: ({ key, now, ownerId }) =>
        sql`SELECT title, data, metadata, created_at, updated_at, expires_at
          FROM notes WHERE owner_id = ${ownerId} AND title_key = ${key} AND ${live(now)}`
    })

    const save = (
      ownerId: string,
      input: SaveInput,
      limits: SaveLimits = {}
    ): Effect.Effect<{ note: Note; created: boolean }, NotesError | NoteQuotaExceeded> =>
      Effect.gen(function*() {
        const now = yield* nowIso
        const title = normalizeTitle(input.title)
        const key = titleKey(input.title)
        // An expired note under this title is gone: saving again starts a new one.
        yield* sql`DELETE FROM notes
          WHERE owner_id = ${ownerId} AND title_key = ${key} AND expires_at IS NOT NULL AND expires_at <= ${now}`
        const existing = yield* sql`SELECT id FROM notes WHERE owner_id = ${ownerId} AND title_key = ${key}`
        const expiresAt = input.expiresAt === undefined ? undefined : input.expiresAt?.toISOString() ?? null
        const metadata = input.metadata === undefined ? undefined : JSON.stringify(input.metadata)
        if (existing.length === 0 && limits.maxNotes !== undefined) {
          // Counted in the same transaction as the insert (expired notes were deleted above or no longer count).
          const [counted] = yield* decodeAll(
            CountRow,
            sql`SELECT count(*) AS n FROM notes WHERE owner_id = ${ownerId} AND ${live(now)}`
          )
          const count = counted?.n ?? 0
          if (count >= limits.maxNotes) return yield* new NoteQuotaExceeded({ count, max: limits.maxNotes })
        }
        if (existing.length === 0) {
          yield* sql`INSERT INTO notes ${
            sql.insert({
              owner_id: ownerId,
              title,
              title_key: key,
              data: input.data,
              metadata: metadata ?? "{}",
              expires_at: expiresAt ?? null,
              created_at: now,
              updated_at: now
            })
          }`
        } else {
          yield* sql`UPDATE notes SET ${
            sql.update({
              title,
              data: input.data,
              updated_at: now,
              ...(metadata === undefined ? {} : { metadata }),
              ...(expiresAt === undefined ? {} : { expires_at: expiresAt })
            })
          } WHERE owner_id = ${ownerId} AND title_key = ${key}`
        }
        // The row was just written in this transaction: its absence would be a database defect.
        const note = yield* noteByKey({ ownerId, key }).pipe(Effect.catchTag("NoSuchElementException", Effect.die))
        return { note, created: existing.length === 0 }
      }).pipe(sql.withTransaction, Effect.withSpan("NotesStore.save"))

    const get = (ownerId: string, title: string): Effect.Effect<Option.Option<Note>, NotesError> =>
      Effect.flatMap(nowIso, (now) => liveNote({ ownerId, key: titleKey(title), now }))

    const remove = (ownerId: string, title: string): Effect.Effect<boolean, SqlError> =>
      Effect.gen(function*() {
        const now = yield* nowIso
        const rows = yield* sql`DELETE FROM notes
          WHERE owner_id = ${ownerId} AND title_key = ${titleKey(title)} AND ${live(now)} RETURNING id`
        return rows.length > 0
      })

    const list = (
      ownerId: string,
      page: PageRequest
    ): Effect.Effect<Page<NoteSummary> & { total: number }, NotesError> =>
      Effect.gen(function*() {
        const now = yield* nowIso
        const rows = yield* decodeAll(
          NoteSummary,
          sql`
          SELECT title, updated_at, expires_at FROM notes
          WHERE owner_id = ${ownerId} AND ${live(now)}
          ORDER BY title_key LIMIT ${page.limit + 1} OFFSET ${page.offset}`
        )
        const [counted] = yield* decodeAll(
          CountRow,
          sql`SELECT count(*) AS n FROM notes WHERE owner_id = ${ownerId} AND ${live(now)}`
        )
        return { items: rows.slice(0, page.limit), hasMore: rows.length > page.limit, total: counted?.n ?? 0 }
      })

    /**
     * FTS5 hits (any query word as a prefix, bm25-ranked with titles weighing more) first, then
     * notes that only contain a query word inside another word (`LIKE '%word%'`), newest first.
     * On Postgres: any query word anywhere (ILIKE), newest first.
     */
    const search = (ownerId: string, query: string, page: PageRequest): Effect.Effect<Page<SearchHit>, NotesError> =>
      Effect.gen(function*() {
        const terms = queryTerms(query)
        if (terms.length === 0) return { items: [], hasMore: false }
        const now = yield* nowIso
        const match = terms.map((term) => `"${term}"*`).join(" OR ")
        const partial = sql.or(
          terms.flatMap((term) => {
            const pattern = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
            return [sql`lower(n.title) LIKE ${pattern} ESCAPE '\\'`, sql`lower(n.data) LIKE ${pattern} ESCAPE '\\'`]
          })
        )
        // Postgres: the `search` tsvector (0007) and its GIN index, each term as a word or a word's
        // start; ranked like FTS5's bm25 above (title words weigh more), newest first among equals.
        const pgSearch = () => {
          const tsquery = sql`to_tsquery('simple', ${terms.map((term) => `${term}:*`).join(" | ")})`
          return sql`
            SELECT n.title, n.data, n.updated_at, 0 AS tier FROM notes n
            WHERE n.owner_id = ${ownerId} AND (n.expires_at IS NULL OR n.expires_at > ${now})
              AND n.search @@ ${tsquery}
            ORDER BY ts_rank(n.search, ${tsquery}) DESC, n.updated_at DESC
            LIMIT ${page.limit + 1} OFFSET ${page.offset}`
        }
        const rows = yield* decodeAll(
          HitRow,
          sql.onDialectOrElse({
            pg: pgSearch,
            orElse: () =>
              sql`
          SELECT title, data, updated_at, tier FROM (
            SELECT n.title, n.data, n.updated_at, 0 AS tier, bm25(notes_fts, 5.0, 1.0) AS score
            FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid
            WHERE notes_fts MATCH ${match} AND n.owner_id = ${ownerId} AND (n.expires_at IS NULL OR n.expires_at > ${now})
            UNION ALL
            SELECT n.title, n.data, n.updated_at, 1 AS tier, 0.0 AS score
            FROM notes n
            WHERE n.owner_id = ${ownerId} AND (n.expires_at IS NULL OR n.expires_at > ${now}) AND ${partial}
              AND n.id NOT IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH ${match})
          )
          ORDER BY tier, score, updated_at DESC
          LIMIT ${page.limit + 1} OFFSET ${page.offset}`
          })
        )
        return {
          items: rows.slice(0, page.limit).map((r) => ({
            title: r.title,
            snippet: snippet(r.data, terms),
            updatedAt: r.updated_at,
            match: r.tier === 0 ? "full_text" as const : "partial" as const
          })),
          hasMore: rows.length > page.limit
        }
      }).pipe(Effect.withSpan("NotesStore.search"))

    /**
     * The titles a miss on `title` is compared with, narrowed by the database (at most
     * `maxSuggestionCandidates`): those starting with it or with its first two characters (an
     * index range on `title_key`), those it starts with, those sharing a word with it (FTS5 on titles; ILIKE on
     * Postgres), and the most recently updated.
     */
    const suggestionCandidates = (
      ownerId: string,
      title: string
    ): Effect.Effect<ReadonlyArray<Candidate>, NotesError> =>
      Effect.gen(function*() {
        const now = yield* nowIso
        const key = titleKey(title)
        const startingWith = (prefix: string, limit: number) =>
          sql<Candidate>`SELECT title, title_key FROM notes
            WHERE owner_id = ${ownerId} AND title_key >= ${prefix} AND title_key < ${`${prefix}\u{10FFFF}`}
            AND ${live(now)} ORDER BY title_key LIMIT ${limit}`
        // Titles the key itself starts with ("log entry 99" for "log entry 99x"), by exact key.
        const prefixes = Array.from({ length: key.length - 2 }, (_, i) => key.slice(0, i + 3))
        const startOfKey = prefixes.length === 0 ?
          Effect.succeed([]) :
          sql<Candidate>`SELECT title, title_key FROM notes
          WHERE owner_id = ${ownerId} AND title_key IN ${sql.in(prefixes)} AND ${live(now)}
          ORDER BY length(title_key) DESC LIMIT ${candidatesPerSource.prefix}`
        const words = queryTerms(key).filter((w) => w.length >= 3)
        const sharingWords = words.length === 0 ? Effect.succeed([]) : sql.onDialectOrElse({
          pg: () =>
            sql<Candidate>`SELECT title, title_key FROM notes
              WHERE owner_id = ${ownerId} AND ${live(now)} AND ${
              sql.or(words.map((w) => sql`title_key LIKE ${`%${w}%`}`))
            } ORDER BY updated_at DESC LIMIT ${candidatesPerSource.words}`,
          orElse: () =>
            sql<Candidate>`SELECT n.title, n.title_key FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid
              WHERE notes_fts MATCH ${`title : (${words.map((w) => `"${w}"*`).join(" OR ")})`}
              AND n.owner_id = ${ownerId} AND (n.expires_at IS NULL OR n.expires_at > ${now})
              ORDER BY n.updated_at DESC LIMIT ${candidatesPerSource.words}`
        })
        const recent = sql<Candidate>`SELECT title, title_key FROM notes
          WHERE owner_id = ${ownerId} AND ${live(now)} ORDER BY updated_at DESC LIMIT ${candidatesPerSource.recent}`
        const lists = [
          yield* startingWith(key, candidatesPerSource.prefix),
          yield* startOfKey,
          yield* startingWith(key.slice(0, 2), candidatesPerSource.start),
          yield* sharingWords,
          yield* recent
        ]
        const found = yield* Schema.decodeUnknown(Schema.Array(TitleRow))(lists.flat())
        const byKey = new Map(found.map((c) => [c.title_key, c]))
        return [...byKey.values()].slice(0, maxSuggestionCandidates)
      })

    /** Titles of the owner's live notes close to `title`: prefix, substring, shared word or few typos. */
    const suggest = (ownerId: string, title: string, limit = 5): Effect.Effect<ReadonlyArray<string>, NotesError> =>
      Effect.map(suggestionCandidates(ownerId, title), (candidates) => closest(titleKey(title), candidates, limit))

    /** Deletes expired notes of every owner; returns how many. */
    const purgeExpired: Effect.Effect<number, SqlError> = Effect.gen(function*() {
      const now = yield* nowIso
      const rows = yield* sql`DELETE FROM notes
        WHERE expires_at IS NOT NULL AND expires_at <= ${now} RETURNING id`
      return rows.length
    })

    return { save, get, delete: remove, list, search, suggestionCandidates, suggest, purgeExpired } as const
  })
}) {
  /** Deletes expired notes now and then every `interval`, for as long as the layer lives. */
  static readonly purgeEvery = (interval: Duration.DurationInput) =>
    Layer.scopedDiscard(
      Effect.flatMap(NotesStore, (store) =>
        store.purgeExpired.pipe(
          Effect.tap((n) =>
            n > 0 ? Effect.logInfo("purged expired notes").pipe(Effect.annotateLogs({ count: n })) : Effect.void
          ),
          Effect.catchAllCause((cause) => Effect.logWarning("purging expired notes failed", cause)),
          Effect.repeat(Schedule.spaced(interval)),
          Effect.forkScoped
        ))
    )
}

const snippet = (data: string, terms: ReadonlyArray<string>): string => {
  const lower = data.toLowerCase()
  const at = terms.map((t) => lower.indexOf(t)).filter((i) => i >= 0).sort((a, b) => a - b)[0] ?? 0
  const start = Math.max(0, at - snippetLength / 4)
  const text = data.slice(start, start + snippetLength).replace(/\s+/g, " ").trim()
  return `${start > 0 ? "…" : ""}${text}${start + snippetLength < data.length ? "…" : ""}`
}

interface Candidate {
  readonly title: string
  readonly title_key: string
}

/** Ranks candidates: 0 prefix, 1 substring, 2 shared word, 3 + edit distance when within a third of the length. */
export const closest = (key: string, candidates: ReadonlyArray<Candidate>, limit: number): ReadonlyArray<string> => {
  const words = new Set(queryTerms(key).filter((w) => w.length >= 3))
  const ranked: Array<{ title: string; rank: number }> = []
  for (const c of candidates) {
    const other = c.title_key
    let rank: number | undefined
    if (other.startsWith(key) || key.startsWith(other)) rank = 0
    else if (other.includes(key) || key.includes(other)) rank = 1
    else if (queryTerms(other).some((w) => words.has(w))) rank = 2
    else {
      const allowed = Math.max(1, Math.floor(Math.max(key.length, other.length) / 3))
      // The distance is at least the difference in length: no need to compute it beyond that.
      const distance = Math.abs(key.length - other.length) > allowed ? Infinity : levenshtein(key, other)
      if (distance <= allowed) rank = 3 + distance
    }
    if (rank !== undefined) ranked.push({ title: c.title, rank })
  }
  return ranked.sort((a, b) => a.rank - b.rank).slice(0, limit).map((r) => r.title)
}

export const levenshtein = (a: string, b: string): number => {
  if (a === b) return 0
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}
