/**
 * The outbox of outgoing webhooks: one row per (bus event, webhook URL), written when the event
 * is taken from the bus and kept until it is delivered or has failed for good, so a restart loses
 * none. The body is stored as sent (signatures cover its exact bytes). `next_attempt_at` is both
 * the retry time and the claim: a runner that takes a row moves it past the attempt's timeout, so
 * no other runner sends it meanwhile. Portable SQL (SQLite and Postgres): times in epoch ms.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE webhook_deliveries (
      event_id TEXT NOT NULL,
      url TEXT NOT NULL,
      kind TEXT NOT NULL,
      body TEXT NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at BIGINT NOT NULL,
      last_status INTEGER,
      last_error TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      delivered_at BIGINT,
      PRIMARY KEY (event_id, url)
    )
  `
  yield* sql`CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at)`
  yield* sql`CREATE INDEX webhook_deliveries_url_idx ON webhook_deliveries (url, status, updated_at)`
})
