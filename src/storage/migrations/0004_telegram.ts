import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

/**
 * The Telegram channel's state.
 * - `telegram_state`: per bot id, the next getUpdates offset and the hash of the commands last
 *   registered with setMyCommands (a row of another bot is discarded on start).
 * - `telegram_handled_updates`: updates answered outside the conversation mailbox (commands,
 *   refusals, notices), so a re-fetched or re-posted one is not answered twice.
 * - `telegram_refusals`: when a chat of strangers was last refused (at most once an hour).
 * - `telegram_pairing_codes` / `telegram_paired_users`: `dm_policy = "pairing"`.
 */
export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE telegram_state (
      bot_id BIGINT PRIMARY KEY,
      next_offset BIGINT,
      commands_hash TEXT,
      updated_at BIGINT NOT NULL
    )
  `
  yield* sql`
    CREATE TABLE telegram_handled_updates (
      bot_id BIGINT NOT NULL,
      update_id BIGINT NOT NULL,
      handled_at BIGINT NOT NULL,
      PRIMARY KEY (bot_id, update_id)
    )
  `
  yield* sql`CREATE INDEX telegram_handled_updates_at ON telegram_handled_updates (handled_at)`
  yield* sql`
    CREATE TABLE telegram_refusals (
      chat_id BIGINT PRIMARY KEY,
      refused_at BIGINT NOT NULL
    )
  `
  yield* sql`
    CREATE TABLE telegram_pairing_codes (
      code TEXT PRIMARY KEY,
      user_id BIGINT NOT NULL,
      chat_id BIGINT NOT NULL,
      user_name TEXT,
      created_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL
    )
  `
  yield* sql`CREATE INDEX telegram_pairing_codes_user ON telegram_pairing_codes (user_id)`
  yield* sql`
    CREATE TABLE telegram_paired_users (
      user_id BIGINT PRIMARY KEY,
      user_name TEXT,
      approved_at BIGINT NOT NULL
    )
  `
})
