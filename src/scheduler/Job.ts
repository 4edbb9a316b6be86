/**
 * A scheduled job: what runs (a strategy and its payload), for whom (owner and conversation), and
 * when (a first due time and a recurrence). Pure: the next due time is computed here, with Effect's
 * `Cron` in the job's own time zone, so daylight-saving changes neither skip nor double a run
 * (a wall-clock time that does not exist fires at the first instant after the gap; one that
 * occurs twice fires once).
 */
import { Cron, DateTime, Either, Option, Schema } from "effect"
import { ConversationRef } from "../domain/Conversation.ts"

/** `paused`: the operator paused it (`/api/schedules/{id}/pause`): no firing until resumed. */
export const JobStatus = Schema.Literal("pending", "running", "paused", "completed", "failed", "cancelled")
export type JobStatus = typeof JobStatus.Type

/** How one firing of a job ended (`skipped`: missed while the daemon was down, policy "skip"). */
export const RunStatus = Schema.Literal("running", "completed", "failed", "skipped", "cancelled")
export type RunStatus = typeof RunStatus.Type

/** How a due job is carried out (see `src/tasks/TaskStrategy.ts`). */
export const StrategyName = Schema.Literal("llm_prompt", "web_fetch", "message")
export type StrategyName = typeof StrategyName.Type

export const RecurrenceKind = Schema.Literal("none", "interval", "cron")
export type RecurrenceKind = typeof RecurrenceKind.Type

export const Recurrence = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("none") }),
  Schema.Struct({ kind: Schema.Literal("interval"), seconds: Schema.Int }),
  Schema.Struct({ kind: Schema.Literal("cron"), expression: Schema.String })
)
export type Recurrence = typeof Recurrence.Type

const EpochMillis = Schema.Number
const NullableMillis = Schema.NullOr(Schema.Number)

export const Job = Schema.Struct({
  id: Schema.String,
  ownerId: Schema.String,
  conversation: ConversationRef,
  userId: Schema.NullOr(Schema.String),
  strategy: StrategyName,
  /** The prompt (`llm_prompt`), the URL (`web_fetch`) or the text (`message`). */
  payload: Schema.String,
  recurrence: Recurrence,
  timezone: Schema.String,
  /** The first due time (epoch ms); interval slots are counted from it. */
  runAt: EpochMillis,
  /** The due time of the next firing; null once nothing is left to run. */
  nextRunAt: NullableMillis,
  endAt: NullableMillis,
  notify: Schema.Boolean,
  status: JobStatus,
  /** Attempts of the latest firing. */
  attempts: Schema.Int,
  /** Firings started so far. */
  runs: Schema.Int,
  lastRunAt: NullableMillis,
  lastError: Schema.NullOr(Schema.String),
  createdAt: EpochMillis,
  updatedAt: EpochMillis
})
export type Job = typeof Job.Type

/** Pending, running or paused: listed by `active_only`, cancellable. */
export const isActive = (job: Job) => job.status === "pending" || job.status === "running" || job.status === "paused"

const idAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

/** Short, unambiguous ids (`j` + 9 characters) that a person can type in `/tasks cancel ID`. */
export const newJobId = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(9))
  return "j" + Array.from(bytes, (b) => idAlphabet[b % idAlphabet.length]).join("")
}

export const zoneOf = (name: string): Option.Option<DateTime.TimeZone> => DateTime.zoneMakeNamed(name)

/** A cron expression (5 fields, or 6 with seconds) in a zone, or why it is not one. */
export const parseCron = (expression: string, timezone: string): Either.Either<Cron.Cron, string> => {
  const zone = zoneOf(timezone)
  if (Option.isNone(zone)) return Either.left(`unknown time zone ${JSON.stringify(timezone)}`)
  const fields = expression.trim().split(/\s+/).length
  if (fields < 5 || fields > 6) {
    return Either.left(`expected 5 fields (minute hour day-of-month month day-of-week), got ${fields}`)
  }
  return Cron.parse(expression.trim(), zone.value).pipe(Either.mapLeft((e) => e.message))
}

/** How many upcoming runs `shortestCronGapSeconds` looks at. */
const cronRunsMeasured = 100

/**
 * The shortest gap, in seconds, between consecutive runs among a cron's next runs after `from`:
 * what `[scheduler] min_interval_seconds` is checked against (a six-field `* * * * * *` is 1).
 */
export const shortestCronGapSeconds = (cron: Cron.Cron, from: number, runs = cronRunsMeasured): number => {
  const times = Cron.sequence(cron, new Date(from))
  let previous = times.next().value?.getTime()
  let shortest = Infinity
  for (let i = 1; i < runs && previous !== undefined; i++) {
    const next = times.next().value?.getTime()
    if (next === undefined) break
    shortest = Math.min(shortest, (next - previous) / 1000)
    previous = next
  }
  return shortest
}

/** The first due time strictly after `after` (epoch ms) for a recurrence, ignoring the end time. */
export const slotAfter = (recurrence: Recurrence, timezone: string, anchor: number, after: number): number | null => {
  switch (recurrence.kind) {
    case "none":
      return null
    case "interval": {
      const step = recurrence.seconds * 1000
      if (after < anchor) return anchor
      return anchor + (Math.floor((after - anchor) / step) + 1) * step
    }
    case "cron": {
      const cron = parseCron(recurrence.expression, timezone)
      return Either.isLeft(cron) ? null : Cron.next(cron.right, new Date(after)).getTime()
    }
  }
}

/** The due time after `after`, or null when the job has none left (one-shot, or past its end). */
export const nextRunAfter = (
  job: Pick<Job, "recurrence" | "timezone" | "runAt" | "endAt">,
  after: number
): number | null => {
  const next = slotAfter(job.recurrence, job.timezone, job.runAt, after)
  return next === null || (job.endAt !== null && next > job.endAt) ? null : next
}

/**
 * `2026-11-25T09:00:00Z` or `...+01:00` is an instant; `2026-11-25T09:00` (no offset) is a
 * wall-clock time in `timezone`. Returns epoch ms or a reason.
 */
export const parseTime = (text: string, timezone: string): Either.Either<number, string> => {
  const trimmed = text.trim()
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/.exec(trimmed)
  if (local) {
    const zone = zoneOf(timezone)
    if (Option.isNone(zone)) return Either.left(`unknown time zone ${JSON.stringify(timezone)}`)
    const [, y, mo, d, h = "0", mi = "0", s = "0", ms = "0"] = local
    const zoned = DateTime.makeZoned(
      { year: +y!, month: +mo!, day: +d!, hours: +h, minutes: +mi, seconds: +s, millis: +ms.padEnd(3, "0") },
      { timeZone: zone.value, adjustForTimeZone: true }
    )
    return Option.match(zoned, {
      onNone: () => Either.left(`not a valid date and time: ${JSON.stringify(text)}`),
      onSome: (dt) => Either.right(DateTime.toEpochMillis(dt))
    })
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(trimmed)) {
    return Either.left(
      `expected an ISO-8601 date and time such as "2026-11-25T09:00:00+01:00", got ${JSON.stringify(text)}`
    )
  }
  const ms = Date.parse(trimmed)
  return Number.isNaN(ms) ? Either.left(`not a valid date and time: ${JSON.stringify(text)}`) : Either.right(ms)
}

/** ISO-8601 in the job's zone with its offset, e.g. `2026-11-25T09:00:00.000+01:00`. */
export const formatInZone = (ms: number, timezone: string): string =>
  Option.match(zoneOf(timezone), {
    onNone: () => new Date(ms).toISOString(),
    onSome: (zone) => DateTime.formatIsoOffset(DateTime.unsafeMakeZoned(ms, { timeZone: zone }))
  })

/** A job as the tools and `/tasks` show it. */
export const toJson = (job: Job) => ({
  id: job.id,
  kind: job.strategy,
  ...(job.strategy === "llm_prompt"
    ? { prompt: job.payload }
    : job.strategy === "web_fetch"
    ? { url: job.payload }
    : { text: job.payload }),
  status: job.status,
  recurrence: job.recurrence.kind,
  ...(job.recurrence.kind === "interval" ? { interval_seconds: job.recurrence.seconds } : {}),
  ...(job.recurrence.kind === "cron" ? { cron: job.recurrence.expression } : {}),
  timezone: job.timezone,
  next_run_at: job.nextRunAt === null ? null : formatInZone(job.nextRunAt, job.timezone),
  ...(job.endAt === null ? {} : { end_at: formatInZone(job.endAt, job.timezone) }),
  notify: job.notify,
  runs: job.runs,
  attempts: job.attempts,
  last_run_at: job.lastRunAt === null ? null : formatInZone(job.lastRunAt, job.timezone),
  last_error: job.lastError,
  created_at: formatInZone(job.createdAt, job.timezone)
})
