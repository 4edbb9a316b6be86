/**
 * Groups own their jobs (see `ownerIdOf`): a job scheduled in a Telegram group before that rule
 * was recorded under the person who asked, so its turns could reach that person's private notes in
 * a chat every member steers. It becomes the group's. Telegram group ids are negative (a private
 * chat's id is its user's id).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    UPDATE scheduled_jobs SET owner_id = 'telegram:chat:' || chat_id
    WHERE channel = 'telegram' AND chat_id LIKE '-%'
  `
})
