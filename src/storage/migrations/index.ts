/**
 * Every schema change, in order. A migration is a file `NNNN_name.ts` in this folder whose default
 * export is an Effect needing `SqlClient`; register it in this record under the same name.
 */
import type { SqlClient } from "@effect/sql"
import type { Effect } from "effect"
import core from "./0001_core.ts"
import notes from "./0003_notes.ts"
import telegram from "./0004_telegram.ts"
import scheduler from "./0005_scheduler.ts"
import groupOwnedJobs from "./0006_group_owned_jobs.ts"
import notesSearch from "./0007_notes_search.ts"
import userTimezones from "./0008_user_timezones.ts"
import webhooks from "./0009_webhooks.ts"
import conversationSummaries from "./0011_conversation_summaries.ts"
import mediaGroups from "./0012_media_groups.ts"
import turnPreviews from "./0013_turn_previews.ts"
import channelPauses from "./0014_channel_pauses.ts"

export type Migration = Effect.Effect<void, unknown, SqlClient.SqlClient>

export const migrations: Record<string, Migration> = {
  "0001_core": core,
  "0003_notes": notes,
  "0004_telegram": telegram,
  "0005_scheduler": scheduler,
  "0006_group_owned_jobs": groupOwnedJobs,
  "0007_notes_search": notesSearch,
  "0008_user_timezones": userTimezones,
  "0009_webhooks": webhooks,
  "0011_conversation_summaries": conversationSummaries,
  "0012_media_groups": mediaGroups,
  "0013_turn_previews": turnPreviews,
  "0014_channel_pauses": channelPauses
}
