/** `current_datetime`: the current date and time in an IANA zone (default `[runtime] timezone`). */
import { DateTime, Effect, Option, Schema } from "effect"
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

/** `defaultZone` falls back to UTC if it is not a valid IANA zone (config should have caught it). */
export const make = (defaultZone: string): Tool.Tool => {
  const fallback = Option.getOrElse(DateTime.zoneMakeNamed(defaultZone), () => DateTime.zoneMakeOffset(0))
  return Tool.make({
    name: "current_datetime",
    description: "Get the current date, time, weekday and UTC offset, in the user's time zone or a given one.",
    parameters: Parameters,
    run: (args, ctx) =>
      Effect.gen(function*() {
        const zone = args.timezone === undefined
          ? fallback
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

export const group: ToolGroup<ToolsSettings> = Effect.map(ToolsSettings, (settings) => [make(settings.timezone)])
