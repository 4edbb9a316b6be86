/**
 * `current_datetime`: the current date and time in an IANA zone (default: the owner's zone, set
 * with `/timezone` or `set_timezone`, else `[runtime] timezone`).
 */
import { DateTime, Effect, Option, Schema } from "effect"
import { UserTimezones } from "../timezone/UserTimezones.ts"
import * as Tool from "../Tool.ts"
import type { ToolGroup } from "../ToolRegistry.ts"
import { ToolsSettings } from "../ToolsConfig.ts"

const Parameters = Schema.Struct({
  timezone: Tool.optionalParam(
    Schema.String,
    "IANA time zone such as \"Europe/Paris\" or \"America/New_York\"; the user's configured zone if omitted"
  )
})

const weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"] as const
const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/** The owner's own zone, if they set one. */
export type OwnerZone = (ownerId: string) => Effect.Effect<Option.Option<string>, Tool.ToolError>

const noOwnerZones: OwnerZone = () => Effect.succeedNone

/** `defaultZone` falls back to UTC if it is not a valid IANA zone (config should have caught it). */
export const make = (defaultZone: string, ownerZone: OwnerZone = noOwnerZones): Tool.Tool => {
  // Made on the tool's first use: a named zone loads ICU's date formatting, which the daemon's
  // start does not otherwise need.
  let fallback: DateTime.TimeZone | undefined
  const defaultTimeZone = () =>
    fallback ??= Option.getOrElse(DateTime.zoneMakeNamed(defaultZone), () => DateTime.zoneMakeOffset(0))
  return Tool.make({
    name: "current_datetime",
    description: "Get the current date, time, weekday and UTC offset, in the user's time zone or a given one.",
    parameters: Parameters,
    run: (args, ctx) =>
      Effect.gen(function*() {
        const zone = args.timezone === undefined
          ? Option.getOrElse(Option.flatMap(yield* ownerZone(ctx.ownerId), DateTime.zoneMakeNamed), defaultTimeZone)
          : yield* Option.match(DateTime.zoneMakeNamed(args.timezone.trim()), {
            onNone: () =>
              Tool.fail(`Unknown time zone "${args.timezone}"; use an IANA name like "Europe/Berlin"`, "timezone"),
            onSome: Effect.succeed
          })
        const now = yield* Tool.currentTime(ctx)
        const zoned = DateTime.unsafeMakeZoned(now, { timeZone: zone })
        // Parts of a zoned DateTime are in its zone.
        const local = DateTime.toParts(zoned)
        const offset = DateTime.zonedOffsetIso(zoned)
        const date = `${pad(local.year, 4)}-${pad(local.month)}-${pad(local.day)}`
        const time = `${pad(local.hours)}:${pad(local.minutes)}:${pad(local.seconds)}`
        return {
          timezone: DateTime.zoneToString(zone),
          iso: `${date}T${time}${offset}`,
          date,
          time,
          weekday: weekdays[local.weekDay] ?? "",
          utc_offset: offset,
          utc: now.toISOString(),
          unix: Math.floor(now.getTime() / 1000)
        }
      })
  })
}

/** A storage failure as the model sees it (the details go to the log). */
export const zoneStorageFailed = (error: unknown) =>
  Effect.logError("time zone storage failed", error).pipe(
    Effect.zipRight(Tool.fail("Reading or saving the time zone failed; try again later"))
  )

export const group: ToolGroup<ToolsSettings | UserTimezones> = Effect.gen(function*() {
  const settings = yield* ToolsSettings
  const timezones = yield* UserTimezones
  return [make(settings.timezone, (ownerId) => timezones.get(ownerId).pipe(Effect.catchAll(zoneStorageFailed)))]
})
