/**
 * Each owner's time zone, set with `/timezone` or the `set_timezone` tool: `current_datetime` and
 * new scheduled jobs use it instead of the configured default. Keyed by the owner id notes and
 * jobs use (in a group, the group's), which comes from the server, never from the model.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Data, DateTime, Effect, Option, type ParseResult, Schema } from "effect"

/** A name that is not an IANA zone this Node knows. */
export class UnknownTimezone extends Data.TaggedError("UnknownTimezone")<{ readonly zone: string }> {
  override get message() {
    return `Unknown time zone ${JSON.stringify(this.zone)}: use an IANA name such as "Europe/Madrid"`
  }
}

export type UserTimezonesError = SqlError | ParseResult.ParseError

/** The canonical spelling of an IANA zone ("europe/madrid" is "Europe/Madrid"), or none. */
export const ianaZone = (name: string): Option.Option<string> =>
  Option.map(DateTime.zoneMakeNamed(name.trim()), DateTime.zoneToString)

const TimezoneRow = Schema.Struct({ timezone: Schema.String })

export class UserTimezones extends Effect.Service<UserTimezones>()("minibot/UserTimezones", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const row = SqlSchema.findOne({
      Request: Schema.String,
      Result: TimezoneRow,
      execute: (ownerId) => sql`SELECT timezone FROM user_timezones WHERE owner_id = ${ownerId}`
    })

    /** The owner's zone; none when unset or no longer known to this Node (an older tz database). */
    const get = (ownerId: string): Effect.Effect<Option.Option<string>, UserTimezonesError> =>
      Effect.map(row(ownerId), Option.flatMap((r) => ianaZone(r.timezone)))

    /** The owner's zone, else `fallback`. */
    const zoneOr = (ownerId: string, fallback: string): Effect.Effect<string, UserTimezonesError> =>
      Effect.map(get(ownerId), Option.getOrElse(() => fallback))

    /** Validates and stores the owner's zone; returns its canonical name. */
    const set = (ownerId: string, name: string): Effect.Effect<string, UnknownTimezone | SqlError> =>
      Effect.gen(function*() {
        const zone = yield* Option.match(ianaZone(name), {
          onNone: () => Effect.fail(new UnknownTimezone({ zone: name })),
          onSome: Effect.succeed
        })
        const now = new Date(yield* Clock.currentTimeMillis).toISOString()
        yield* sql`INSERT INTO user_timezones ${sql.insert({ owner_id: ownerId, timezone: zone, updated_at: now })}
          ON CONFLICT (owner_id) DO UPDATE SET timezone = excluded.timezone, updated_at = excluded.updated_at`
        yield* Effect.logInfo("time zone set").pipe(Effect.annotateLogs({ owner_id: ownerId, timezone: zone }))
        return zone
      }).pipe(Effect.withSpan("UserTimezones.set"))

    return { get, zoneOr, set } as const
  })
}) {}
