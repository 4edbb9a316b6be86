/**
 * Albums: Telegram sends each photo of an album as its own update, a moment apart, with one
 * `media_group_id`. Each part is recorded here on arrival (beside its mailbox message, before the
 * update is confirmed), and the turn of the first part to run waits until the album is quiet for
 * `albumQuiet`, takes every part not taken yet, and answers them as one turn. The parts it took
 * are marked with its message id: their own turns end silently, and after a restart the same
 * message takes the same parts again (the turn ledger then answers it once).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Context, Duration, Effect, Option, Schema } from "effect"
import type { ConversationKey } from "../domain/Conversation.ts"
import { Attachment, type InboundMessage } from "../domain/Inbound.ts"
import { SqlInt } from "../storage/Columns.ts"

export interface AlbumTimingsShape {
  /** The album is complete once no part arrived for this long. */
  readonly quiet: Duration.Duration
  /** A turn never waits longer than this for more parts. */
  readonly maxWait: Duration.Duration
}

export class AlbumTimings extends Context.Reference<AlbumTimings>()("minibot/AlbumTimings", {
  defaultValue: (): AlbumTimingsShape => ({ quiet: Duration.millis(800), maxWait: Duration.seconds(5) })
}) {}

/** What an album part adds to the turn: its caption and its files. */
export const AlbumPart = Schema.Struct({ text: Schema.String, attachments: Schema.Array(Attachment) })
export type AlbumPart = typeof AlbumPart.Type

const PartJson = Schema.parseJson(AlbumPart)

const PartRow = Schema.Struct({
  message_id: Schema.String,
  part: PartJson,
  received_at: SqlInt,
  taken_by: Schema.NullOr(Schema.String)
})

const byArrival = (a: typeof PartRow.Type, b: typeof PartRow.Type) =>
  a.received_at - b.received_at || a.message_id.localeCompare(b.message_id, "en", { numeric: true })

export class MediaGroups extends Effect.Service<MediaGroups>()("minibot/MediaGroups", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const timings = yield* AlbumTimings

    const partsOf = SqlSchema.findAll({
      Request: Schema.Struct({ key: Schema.String, group: Schema.String }),
      Result: PartRow,
      execute: ({ group, key }) =>
        sql`
          SELECT message_id, part, received_at, taken_by FROM media_group_parts
          WHERE conversation_key = ${key} AND media_group_id = ${group}
        `
    })

    /** Records one part of an album (once per message id). */
    const add = (key: ConversationKey, group: string, message: InboundMessage) =>
      Effect.gen(function*() {
        const part = yield* Schema.encode(PartJson)({ text: message.text, attachments: message.attachments })
        yield* sql`
          INSERT INTO media_group_parts (conversation_key, media_group_id, message_id, part, received_at)
          VALUES (${key}, ${group}, ${message.messageId}, ${part}, ${message.receivedAt})
          ON CONFLICT (conversation_key, media_group_id, message_id) DO NOTHING
        `
      })

    /**
     * The parts this message answers, in order of arrival, once the album is quiet; `None` when
     * another part's turn took this one.
     */
    const take = Effect.fn("MediaGroups.take")(function*(key: ConversationKey, group: string, messageId: string) {
      const started = yield* Clock.currentTimeMillis
      for (;;) {
        const rows = yield* partsOf({ key, group })
        const now = yield* Clock.currentTimeMillis
        const latest = Math.max(...rows.map((row) => row.received_at))
        const quietAt = latest + Duration.toMillis(timings.quiet)
        const deadline = started + Duration.toMillis(timings.maxWait)
        if (rows.length > 0 && now < Math.min(quietAt, deadline)) {
          yield* Effect.sleep(Duration.millis(Math.min(quietAt, deadline) - now))
          continue
        }
        const mine = rows.find((row) => row.message_id === messageId)
        if (mine?.taken_by != null && mine.taken_by !== messageId) return Option.none<Array<AlbumPart>>()
        yield* sql`
          UPDATE media_group_parts SET taken_by = ${messageId}
          WHERE conversation_key = ${key} AND media_group_id = ${group} AND taken_by IS NULL
        `
        const taken = (yield* partsOf({ key, group })).filter((row) => row.taken_by === messageId).sort(byArrival)
        return Option.some(taken.map((row) => row.part))
      }
    })

    /** Forgets album parts older than `before` (epoch ms). */
    const prune = (before: number) =>
      sql`DELETE FROM media_group_parts WHERE received_at < ${before}`.pipe(Effect.asVoid)

    return { add, take, prune } as const
  })
}) {}
