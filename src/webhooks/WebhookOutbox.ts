/**
 * The webhook outbox (`webhook_deliveries`, migration 0009): every event a webhook wants, kept
 * from the moment it leaves the bus until it was delivered or failed for good, so a restart or a
 * receiver that is down loses nothing.
 *
 * A row is `pending` (due at `next_attempt_at`), `delivered` or `failed`. Taking a row (`claim`)
 * moves its `next_attempt_at` past the attempt's lease in the same statement that checks it is
 * still due, so with several runners on one database each attempt is made by one of them; a
 * runner that dies mid-attempt leaves the row due again when the lease ends. Delivered and failed
 * rows beyond the newest `keep` of each are pruned; pending rows per URL are capped.
 */
import { SqlClient, SqlSchema, type Statement } from "@effect/sql"
import { Effect, Schema } from "effect"
import { CountRow, SqlInt } from "../storage/Columns.ts"

export const DeliveryStatus = Schema.Literal("pending", "delivered", "failed")
export type DeliveryStatus = typeof DeliveryStatus.Type

export const OutboxRow = Schema.Struct({
  event_id: Schema.String,
  url: Schema.String,
  kind: Schema.String,
  body: Schema.String,
  status: DeliveryStatus,
  attempts: SqlInt,
  next_attempt_at: SqlInt,
  last_status: Schema.NullOr(SqlInt),
  last_error: Schema.NullOr(Schema.String),
  created_at: SqlInt,
  updated_at: SqlInt,
  delivered_at: Schema.NullOr(SqlInt)
})
export type OutboxRow = typeof OutboxRow.Type

/** One event for one webhook, as written. */
export interface NewDelivery {
  readonly eventId: string
  readonly url: string
  readonly kind: string
  readonly body: string
}

/** How one attempt ended, as recorded on its row. */
export interface AttemptResult {
  readonly status: number | null
  readonly error: string | null
}

/** Per URL: rows by status, the last failure and the last success. */
export interface TargetSummary {
  readonly url: string
  readonly pending: number
  readonly delivered: number
  readonly failed: number
  readonly lastError: string | null
  readonly lastErrorAt: number | null
  readonly lastDeliveredAt: number | null
}

export interface ListQuery {
  readonly status?: DeliveryStatus | undefined
  readonly url?: string | undefined
  readonly limit: number
  readonly offset: number
}

/** Delivered rows, and failed rows, kept for the API; older ones are deleted. */
export const keepFinished = 10_000
/** Pending rows one URL may have; an event beyond it is recorded as failed at once. */
export const maxPendingPerUrl = 50_000

export class WebhookOutbox extends Effect.Service<WebhookOutbox>()("minibot/WebhookOutbox", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const rows = (statement: Statement.Statement<unknown>) =>
      Effect.flatMap(statement, Schema.decodeUnknown(Schema.Array(OutboxRow)))
    const count = (statement: Statement.Statement<unknown>) =>
      Effect.flatMap(statement, ([row]) => Schema.decodeUnknown(CountRow)(row)).pipe(Effect.map((row) => row.n))

    const pendingOf = (url: string) =>
      count(sql`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE url = ${url} AND status = 'pending'`)

    /**
     * Writes one row per delivery, due now; an event already written for that URL (a
     * redelivery from the bus) is left as it is. Past `maxPendingPerUrl` the row is written
     * failed, so the loss is visible in the API.
     */
    const enqueue = Effect.fn("WebhookOutbox.enqueue")(function*(deliveries: ReadonlyArray<NewDelivery>, now: number) {
      for (const d of deliveries) {
        const full = (yield* pendingOf(d.url)) >= maxPendingPerUrl
        yield* sql`
          INSERT INTO webhook_deliveries
            (event_id, url, kind, body, status, attempts, next_attempt_at, last_error, created_at, updated_at)
          VALUES (${d.eventId}, ${d.url}, ${d.kind}, ${d.body}, ${full ? "failed" : "pending"}, 0, ${now},
            ${full ? `dropped: ${maxPendingPerUrl} deliveries to this URL were already pending` : null}, ${now}, ${now})
          ON CONFLICT (event_id, url) DO NOTHING
        `
      }
    })

    /** Takes up to `limit` due rows for one attempt each, leased until `leaseUntil`. */
    const claim = (now: number, leaseUntil: number, limit: number) =>
      rows(sql`
        UPDATE webhook_deliveries
        SET next_attempt_at = ${leaseUntil}, attempts = attempts + 1, updated_at = ${now}
        WHERE status = 'pending' AND next_attempt_at <= ${now} AND (event_id, url) IN (
          SELECT event_id, url FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at <= ${now}
          ORDER BY next_attempt_at LIMIT ${limit}
        )
        RETURNING *
      `)

    const settle = (row: OutboxRow, fields: Statement.Fragment) =>
      sql`
        UPDATE webhook_deliveries SET ${fields}
        WHERE event_id = ${row.event_id} AND url = ${row.url} AND status = 'pending'
      `.pipe(Effect.asVoid)

    const delivered = (row: OutboxRow, result: AttemptResult, now: number) =>
      settle(
        row,
        sql`status = 'delivered', last_status = ${result.status}, delivered_at = ${now}, updated_at = ${now}`
      )

    const failed = (row: OutboxRow, result: AttemptResult, now: number) =>
      settle(
        row,
        sql`status = 'failed', last_status = ${result.status}, last_error = ${result.error}, updated_at = ${now}`
      )

    const retryAt = (row: OutboxRow, result: AttemptResult, at: number, now: number) =>
      settle(
        row,
        sql`next_attempt_at = ${at}, last_status = ${result.status}, last_error = ${result.error}, updated_at = ${now}`
      )

    /** An attempt that was interrupted (the daemon stopping) did not happen: due again now. */
    const release = (row: OutboxRow, now: number) =>
      settle(row, sql`next_attempt_at = ${now}, attempts = attempts - 1, updated_at = ${now}`)

    /** The earliest time a pending row is due (a lease counts), if any. */
    const nextDueAt = Effect.map(
      sql<{ at: unknown }>`SELECT MIN(next_attempt_at) AS at FROM webhook_deliveries WHERE status = 'pending'`,
      ([row]) => (row?.at === null || row?.at === undefined ? undefined : Number(row.at))
    )

    /** Deletes delivered and failed rows beyond the newest `keep` of each (the first beyond, and older). */
    const prune = (keep: number = keepFinished) =>
      Effect.forEach(["delivered", "failed"] as const, (status) =>
        sql`
          DELETE FROM webhook_deliveries WHERE status = ${status} AND updated_at <= (
            SELECT updated_at FROM webhook_deliveries WHERE status = ${status}
            ORDER BY updated_at DESC LIMIT 1 OFFSET ${keep}
          )
        `, { discard: true })

    const countsOf = SqlSchema.findAll({
      Request: Schema.Void,
      Result: Schema.Struct({ url: Schema.String, status: DeliveryStatus, n: SqlInt }),
      execute: () => sql`SELECT url, status, COUNT(*) AS n FROM webhook_deliveries GROUP BY url, status`
    })

    const latest = (url: string, condition: Statement.Fragment) =>
      rows(sql`
        SELECT * FROM webhook_deliveries WHERE url = ${url} AND ${condition}
        ORDER BY updated_at DESC LIMIT 1
      `).pipe(Effect.map((found) => found[0]))

    /** Counts and the latest outcome of each URL (those with rows, and `urls`). */
    const summary = Effect.fn("WebhookOutbox.summary")(function*(urls: ReadonlyArray<string>) {
      const counts = yield* countsOf(undefined)
      const known = [...new Set([...urls, ...counts.map((c) => c.url)])]
      return yield* Effect.forEach(known, (url) =>
        Effect.gen(function*() {
          const n = (status: DeliveryStatus) => counts.find((c) => c.url === url && c.status === status)?.n ?? 0
          const lastFailure = yield* latest(url, sql`last_error IS NOT NULL`)
          const lastDelivery = yield* latest(url, sql`status = 'delivered'`)
          return {
            url,
            pending: n("pending"),
            delivered: n("delivered"),
            failed: n("failed"),
            lastError: lastFailure?.last_error ?? null,
            lastErrorAt: lastFailure?.updated_at ?? null,
            lastDeliveredAt: lastDelivery?.delivered_at ?? null
          } satisfies TargetSummary
        }))
    })

    /** Rows, most recently changed first. */
    const list = (query: ListQuery) => {
      const where = sql.and([
        ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
        ...(query.url === undefined ? [] : [sql`url = ${query.url}`])
      ])
      return rows(sql`
        SELECT * FROM webhook_deliveries WHERE ${where}
        ORDER BY updated_at DESC, event_id, url LIMIT ${query.limit} OFFSET ${query.offset}
      `)
    }

    return { enqueue, claim, delivered, failed, retryAt, release, nextDueAt, prune, summary, list } as const
  })
}) {}
