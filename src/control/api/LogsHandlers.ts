/** `GET /api/logs`: the recent log lines the daemon wrote, redacted as written, filtered. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect, Option } from "effect"
import { LogRing } from "../../observability/Logging.ts"
import { Api, InvalidRequest } from "./Api.ts"

const defaultLimit = 200
const order = ["trace", "debug", "info", "warning", "error", "fatal"]

/** `since` as epoch ms: digits, or an ISO-8601 date and time. */
const sinceOf = (text: string | undefined): Effect.Effect<number, InvalidRequest> => {
  if (text === undefined) return Effect.succeed(-Infinity)
  const ms = /^\d{1,15}$/.test(text) ? Number(text) : Date.parse(text)
  return Number.isNaN(ms)
    ? Effect.fail(
      new InvalidRequest({
        field: "since",
        message: `expected epoch milliseconds or ISO-8601, got ${JSON.stringify(text)}`
      })
    )
    : Effect.succeed(ms)
}

export const LogsHandlers = HttpApiBuilder.group(Api, "logs", (handlers) =>
  Effect.gen(function*() {
    // Absent only where a test replaced the logger: then there is nothing to show.
    const ring = yield* Effect.serviceOption(LogRing)
    return handlers.handle("logs", ({ urlParams }) =>
      Effect.gen(function*() {
        const since = yield* sinceOf(urlParams.since)
        const minimum = order.indexOf(urlParams.level ?? "trace")
        const entries = Option.match(ring, { onNone: () => [], onSome: (r) => r.entries() })
        const matching = entries.filter((e) =>
          e.at > since && order.indexOf(e.level) >= minimum &&
          (urlParams.component === undefined || e.component === urlParams.component)
        )
        return { items: matching.slice(-(urlParams.limit ?? defaultLimit)) }
      }))
  }))
