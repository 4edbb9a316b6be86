/**
 * `set_timezone`: the model records the person's time zone when they say where they are. The
 * owner is `ToolContext.ownerId` (in a group, the group's), as for `/timezone`.
 */
import { DateTime, Effect, Schema } from "effect"
import { UserTimezones } from "../timezone/UserTimezones.ts"
import * as Tool from "../Tool.ts"
import type { ToolGroup } from "../ToolRegistry.ts"
import { zoneStorageFailed } from "./DateTimeTool.ts"

const Parameters = Schema.Struct({
  timezone: Tool.param(
    Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)),
    "IANA time zone such as \"Europe/Madrid\" or \"America/New_York\" (not an abbreviation like CET)"
  )
})

export const make = (timezones: UserTimezones): Tool.Tool =>
  Tool.make({
    name: "set_timezone",
    description: "Save the user's time zone when they tell you where they are or which zone they live in. " +
      "current_datetime and new scheduled prompts then use it. Only when the user states it; do not guess.",
    parameters: Parameters,
    run: (args, ctx) =>
      Effect.gen(function*() {
        const timezone = yield* timezones.set(ctx.ownerId, args.timezone)
        const now = yield* Tool.currentTime(ctx)
        const local = DateTime.unsafeMakeZoned(now, { timeZone: timezone })
        return { timezone, local_time: DateTime.formatIsoOffset(local) }
      }).pipe(
        Effect.catchTags({
          UnknownTimezone: (error) => Tool.fail(error.message, "timezone"),
          SqlError: zoneStorageFailed
        })
      )
  })

export const group: ToolGroup<UserTimezones> = Effect.map(UserTimezones, (timezones) => [make(timezones)])
