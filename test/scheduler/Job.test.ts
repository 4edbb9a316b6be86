import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as Job from "../../src/scheduler/Job.ts"

const madrid = "Europe/Madrid"
const cronJob = (expression: string, runAt: number) => ({
  recurrence: { kind: "cron", expression } as const,
  timezone: madrid,
  runAt,
  endAt: null
})
/** The due times a job goes through from its first run, as the runner computes them one after another. */
const slots = (job: Parameters<typeof Job.nextRunAfter>[0], count: number) => {
  const out = [job.runAt]
  while (out.length < count) out.push(Job.nextRunAfter(job, out.at(-1)!)!)
  return out.map((t) => new Date(t).toISOString())
}

describe("job timing", () => {
  it("a daily 02:30 Madrid cron fires once on the spring-forward day (02:30 does not exist) and once on the fall-back day (it exists twice)", () => {
    const spring = Date.parse("2026-03-28T01:30:00Z") // 02:30 CET
    expect(slots(cronJob("30 2 * * *", spring), 3)).toEqual([
      "2026-03-28T01:30:00.000Z",
      "2026-03-29T01:30:00.000Z", // 03:30 CEST: the first instant after the gap, once
      "2026-03-30T00:30:00.000Z" // 02:30 CEST
    ])
    const autumn = Date.parse("2026-10-24T00:30:00Z") // 02:30 CEST
    expect(slots(cronJob("30 2 * * *", autumn), 3)).toEqual([
      "2026-10-24T00:30:00.000Z",
      "2026-10-25T00:30:00.000Z", // the first 02:30 (CEST); the second one (01:30Z, CET) is not a second run
      "2026-10-26T01:30:00.000Z" // 02:30 CET
    ])
  })

  it("a weekday 08:30 Madrid cron keeps 08:30 local time across the DST change", () => {
    const first = Job.slotAfter(
      { kind: "cron", expression: "30 8 * * 1-5" },
      madrid,
      0,
      Date.parse("2026-10-23T12:00:00Z")
    )!
    const job = cronJob("30 8 * * 1-5", first)
    expect(slots(job, 3)).toEqual([
      "2026-10-26T07:30:00.000Z", // Monday after the change: 08:30 CET
      "2026-10-27T07:30:00.000Z",
      "2026-10-28T07:30:00.000Z"
    ])
    expect(Job.formatInZone(first, madrid)).toBe("2026-10-26T08:30:00.000+01:00")
  })

  it("interval slots stay on the grid of the first run; after downtime the next slot is the first after now", () => {
    const job = {
      recurrence: { kind: "interval", seconds: 60 } as const,
      timezone: "UTC",
      runAt: 1_000_000,
      endAt: null
    }
    expect(Job.nextRunAfter(job, 1_000_000)).toBe(1_060_000)
    // Down for ten minutes: not ten catch-up runs, the next slot after now.
    expect(Job.nextRunAfter(job, 1_000_000 + 10 * 60_000 + 5_000)).toBe(1_000_000 + 11 * 60_000)
    expect(Job.nextRunAfter({ ...job, endAt: 1_100_000 }, 1_060_000)).toBeNull()
    expect(Job.nextRunAfter({ ...job, recurrence: { kind: "none" } }, 0)).toBeNull()
  })

  it("times without an offset are wall-clock times of the job's zone", () => {
    expect(Job.parseTime("2026-07-01T09:00", madrid)).toEqual(Either.right(Date.parse("2026-07-01T07:00:00Z")))
    expect(Job.parseTime("2026-12-01T09:00:00", madrid)).toEqual(Either.right(Date.parse("2026-12-01T08:00:00Z")))
    expect(Job.parseTime("2026-12-01T09:00:00Z", madrid)).toEqual(Either.right(Date.parse("2026-12-01T09:00:00Z")))
    expect(Either.isLeft(Job.parseTime("tomorrow at 9", madrid))).toBe(true)
  })

  it("cron expressions are checked", () => {
    expect(Either.isRight(Job.parseCron("*/5 * * * *", madrid))).toBe(true)
    expect(Job.parseCron("61 * * * *", madrid)).toEqual(Either.left(expect.any(String)))
    expect(Job.parseCron("* * *", madrid)).toEqual(Either.left(expect.stringContaining("5 fields")))
    expect(Job.parseCron("* * * * *", "Mars/Olympus")).toEqual(Either.left(expect.stringContaining("time zone")))
  })

  it("measures a cron's shortest gap over its next runs, seconds field included", () => {
    const gap = (expression: string) =>
      Job.shortestCronGapSeconds(
        Either.getOrThrow(Job.parseCron(expression, madrid)),
        Date.parse("2026-11-24T10:00:00Z")
      )
    expect(gap("* * * * * *")).toBe(1)
    expect(gap("*/10 * * * * *")).toBe(10)
    expect(gap("* * * * *")).toBe(60)
    expect(gap("0 9 * * *")).toBe(86_400)
    // Twice in a row once a day: the short gap counts, not the average.
    expect(gap("0,1 9 * * *")).toBe(60)
    expect(gap("0,30 0 9 * * *")).toBe(30)
  })
})
