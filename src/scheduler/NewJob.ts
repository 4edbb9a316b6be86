/**
 * A request for a new job, checked by a Schema: a problem is a `ParseError` whose path names the
 * field at fault. What the checks depend on (the time of the request, the default zone, the
 * minimum interval) comes in as `JobRules`; decoding yields the job's resolved timing (`JobPlan`).
 */
import { Duration, Either, Option, ParseResult, Schema } from "effect"
import * as Job from "./Job.ts"

export interface JobRules {
  /** When the request is made (epoch ms). */
  readonly now: number
  readonly defaultZone: string
  readonly minIntervalSeconds: number
}

/** The longest prompt a job may carry. */
export const maxPromptLength = 4000

const described = <A, I>(schema: Schema.Schema<A, I>, description: string) =>
  Schema.optionalWith(schema, { exact: true }).annotations({ description })

/**
 * A request's timing as its callers spell it (the `schedule_prompt` and `task_create` tools,
 * `POST /api/schedules`); `timingOf` (SchedulerTools.ts) turns it into `NewJob` fields.
 */
export const timingFields = {
  run_at: described(
    Schema.String,
    "When to run first: ISO-8601, with an offset (2026-11-25T09:00:00+01:00) or without (then in `timezone`)"
  ),
  delay_seconds: described(Schema.Number.pipe(Schema.positive()), "Run after this many seconds (instead of run_at)"),
  interval_seconds: described(Schema.Int.pipe(Schema.positive()), "Repeat every this many seconds"),
  cron: described(
    Schema.String,
    "Repeat on this cron schedule (5 fields: minute hour day month weekday), e.g. \"30 8 * * 1-5\""
  ),
  timezone: described(
    Schema.String,
    "IANA time zone of run_at, end_at and cron (default: the user's own, see set_timezone, else the configured one)"
  ),
  end_at: described(Schema.String, "No runs after this time (ISO-8601)"),
  notify: described(Schema.Boolean, "false: run silently, without sending the result (default true)")
}

/** Timestamps a model computes may be a little behind the clock; this much is still "now". */
const pastTolerance = Duration.seconds(5)

const optional = <A, I>(schema: Schema.Schema<A, I>) => Schema.optionalWith(schema, { exact: true })

/** The fields of a request, each checked on its own. */
const fields = (rules: JobRules) =>
  Schema.Struct({
    strategy: Job.StrategyName,
    payload: Schema.String,
    runAt: optional(Schema.String),
    delaySeconds: optional(Schema.Number.pipe(Schema.filter((s) => s > 0 || "must be a positive number of seconds"))),
    intervalSeconds: optional(Schema.Number.pipe(Schema.filter((s) =>
      s >= rules.minIntervalSeconds || `must be at least ${rules.minIntervalSeconds} seconds, got ${s}`
    ))),
    cron: optional(Schema.String),
    timezone: optional(Schema.String.pipe(Schema.filter((name) =>
      Option.isSome(Job.zoneOf(name)) ||
      `unknown time zone ${JSON.stringify(name)}: use an IANA name such as "Europe/Madrid"`
    ))),
    endAt: optional(Schema.String),
    notify: optional(Schema.Boolean)
  })

export type NewJob = Schema.Schema.Type<ReturnType<typeof fields>>

/** A valid request, resolved: its zone, recurrence, first due time and end. */
export const JobPlan = Schema.Struct({
  strategy: Job.StrategyName,
  payload: Schema.String,
  timezone: Schema.String,
  recurrence: Job.Recurrence,
  firstRunAt: Schema.Number,
  endAt: Schema.NullOr(Schema.Number),
  notify: Schema.Boolean
})
export type JobPlan = typeof JobPlan.Type

/** The checks that need several fields, the zone or the clock. */
export const newJob = (rules: JobRules) =>
  Schema.transformOrFail(fields(rules), JobPlan, {
    strict: true,
    decode: (spec, _, ast) => {
      const invalid = (field: keyof NewJob, message: string) =>
        ParseResult.fail(new ParseResult.Pointer(field, spec, new ParseResult.Type(ast, spec[field], message)))
      const timezone = spec.timezone ?? rules.defaultZone
      if (spec.runAt !== undefined && spec.delaySeconds !== undefined) {
        return invalid("delaySeconds", "give either run_at or delay_seconds, not both")
      }
      if (spec.intervalSeconds !== undefined && spec.cron !== undefined) {
        return invalid("cron", "give either interval_seconds or cron, not both")
      }
      let recurrence: Job.Recurrence = { kind: "none" }
      if (spec.intervalSeconds !== undefined) recurrence = { kind: "interval", seconds: spec.intervalSeconds }
      if (spec.cron !== undefined) {
        const parsed = Job.parseCron(spec.cron, timezone)
        if (Either.isLeft(parsed)) {
          return invalid("cron", `invalid cron expression ${JSON.stringify(spec.cron)}: ${parsed.left}`)
        }
        const gap = Job.shortestCronGapSeconds(parsed.right, rules.now)
        if (gap < rules.minIntervalSeconds) {
          return invalid(
            "cron",
            `${JSON.stringify(spec.cron)} runs as often as every ${gap} seconds; the shortest allowed interval is ` +
              `${rules.minIntervalSeconds} seconds ([scheduler] min_interval_seconds)`
          )
        }
        recurrence = { kind: "cron", expression: spec.cron.trim() }
      }
      let first: number
      if (spec.runAt !== undefined) {
        const parsed = Job.parseTime(spec.runAt, timezone)
        if (Either.isLeft(parsed)) return invalid("runAt", parsed.left)
        if (parsed.right < rules.now - Duration.toMillis(pastTolerance)) {
          return invalid("runAt", `${spec.runAt} is in the past (it is now ${Job.formatInZone(rules.now, timezone)})`)
        }
        first = Math.max(parsed.right, rules.now)
      } else if (spec.delaySeconds !== undefined) {
        first = rules.now + Math.round(spec.delaySeconds * 1000)
      } else if (recurrence.kind === "none") {
        return invalid("runAt", "give run_at (ISO-8601 date and time) or delay_seconds")
      } else {
        first = recurrence.kind === "interval" ? rules.now + recurrence.seconds * 1000 : rules.now
      }
      // A cron job starts at its first slot at or after the requested start.
      if (recurrence.kind === "cron") first = Job.slotAfter(recurrence, timezone, first, first - 1)!
      let endAt: number | null = null
      if (spec.endAt !== undefined) {
        const parsed = Job.parseTime(spec.endAt, timezone)
        if (Either.isLeft(parsed)) return invalid("endAt", parsed.left)
        if (parsed.right < first) {
          return invalid("endAt", `${spec.endAt} is before the first run (${Job.formatInZone(first, timezone)})`)
        }
        endAt = parsed.right
      }
      return ParseResult.succeed({
        strategy: spec.strategy,
        payload: spec.payload,
        timezone,
        recurrence,
        firstRunAt: first,
        endAt,
        notify: spec.notify ?? true
      })
    },
    encode: (plan, _, ast) =>
      ParseResult.fail(new ParseResult.Forbidden(ast, plan, "a job plan is not turned back into a request"))
  })

/** The argument names the tools use, for the fields whose names differ. */
const argumentNames: Readonly<Record<string, string>> = {
  runAt: "run_at",
  delaySeconds: "delay_seconds",
  intervalSeconds: "interval_seconds",
  endAt: "end_at"
}

/** The first problem of a rejected request: the argument at fault and why. */
export const firstProblem = (error: ParseResult.ParseError): { readonly field?: string; readonly message: string } => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (issue === undefined) return { message: error.message }
  const key = issue.path[0]
  if (key === undefined) return { message: issue.message }
  return { field: argumentNames[String(key)] ?? String(key), message: issue.message }
}
