/**
 * `task_create`, `task_list`, `task_cancel`: tasks with a strategy (`llm_prompt`, `web_fetch`,
 * `message`), run now, later or on a schedule, with their history. Owner-scoped like the
 * scheduler's tools (whose timing arguments they share).
 */
import { Effect, Either, Schema } from "effect"
import * as Job from "../scheduler/Job.ts"
import { Scheduler } from "../scheduler/Scheduler.ts"
import { requesterOf, timingFields, timingOf, toToolError } from "../scheduler/SchedulerTools.ts"
import * as Tool from "../tools/Tool.ts"
import type { ToolGroup } from "../tools/ToolRegistry.ts"
import { runToJson, Tasks, TaskStatus, taskToJson } from "./Tasks.ts"

const maxInputLength = 4000
const defaultListLimit = 20

const payloadOf = (args: { kind: Job.StrategyName; prompt?: string; url?: string; text?: string }) => {
  const field = args.kind === "llm_prompt" ? "prompt" : args.kind === "web_fetch" ? "url" : "text"
  const value = args[field]
  if (value === undefined || value.trim() === "") return Tool.fail(`required for kind "${args.kind}"`, field)
  const others = (["prompt", "url", "text"] as const).filter((f) => f !== field && args[f] !== undefined)
  if (others.length > 0) return Tool.fail(`not used by kind "${args.kind}" (give ${field})`, others[0])
  if (field === "url" && !/^https?:\/\//i.test(value.trim())) {
    return Tool.fail("expected an http:// or https:// URL", "url")
  }
  return Effect.succeed(value.trim())
}

const timeArg = (value: string | undefined, field: string, timezone: string) => {
  if (value === undefined) return Effect.succeed(undefined)
  const parsed = Job.parseTime(value, timezone)
  return Either.isLeft(parsed) ? Tool.fail(parsed.left, field) : Effect.succeed(parsed.right)
}

export const group: ToolGroup<Tasks | Scheduler> = Effect.map(
  Effect.zip(Tasks, Scheduler),
  ([tasks, scheduler]) =>
    !scheduler.settings.enabled ? [] : [
      Tool.make({
        name: "task_create",
        description:
          "Create a task for the user: kind llm_prompt (an instruction you carry out, give prompt), web_fetch " +
          "(fetch a web page and summarise it, give url) or message (send a fixed text without thinking, give text). " +
          "It runs now unless run_at, delay_seconds, interval_seconds or cron say when. Returns the task with its id.",
        parameters: Schema.Struct({
          kind: Tool.param(Job.StrategyName, "What the task does"),
          prompt: Tool.optionalParam(
            Schema.String.pipe(Schema.maxLength(maxInputLength)),
            "kind llm_prompt: the instruction"
          ),
          url: Tool.optionalParam(Schema.String.pipe(Schema.maxLength(2048)), "kind web_fetch: the page to fetch"),
          text: Tool.optionalParam(
            Schema.String.pipe(Schema.maxLength(maxInputLength)),
            "kind message: the text to send"
          ),
          ...timingFields
        }),
        run: (args, ctx) =>
          Effect.gen(function*() {
            const payload = yield* payloadOf(args)
            const job = yield* tasks.create(requesterOf(ctx), { strategy: args.kind, payload, ...timingOf(args) }).pipe(
              Effect.mapError(toToolError)
            )
            return taskToJson(job)
          })
      }),
      Tool.make({
        name: "task_list",
        description: "List the user's tasks (newest first), filtered by status, kind and creation time; with id, one " +
          "task and its run history (times, attempts, results, errors).",
        parameters: Schema.Struct({
          id: Tool.optionalParam(Schema.String.pipe(Schema.maxLength(64)), "Show this task with its history"),
          status: Tool.optionalParam(Schema.Literal(...TaskStatus), "Only tasks in this state"),
          kind: Tool.optionalParam(Job.StrategyName, "Only tasks of this kind"),
          created_after: Tool.optionalParam(Schema.String, "Only tasks created at or after this time (ISO-8601)"),
          created_before: Tool.optionalParam(Schema.String, "Only tasks created before this time (ISO-8601)"),
          limit: Tool.optionalParam(
            Schema.Int.pipe(Schema.between(1, 100)),
            `At most this many (default ${defaultListLimit})`
          ),
          offset: Tool.optionalParam(Schema.Int.pipe(Schema.nonNegative()), "Skip this many (paging)")
        }),
        run: (args, ctx) =>
          Effect.gen(function*() {
            if (args.id !== undefined) {
              const { job, runs } = yield* tasks.show(ctx.ownerId, args.id.trim()).pipe(Effect.mapError(toToolError))
              return { task: taskToJson(job), history: runs.map((r) => runToJson(r, job.timezone)) }
            }
            const zone = "UTC"
            const from = yield* timeArg(args.created_after, "created_after", zone)
            const to = yield* timeArg(args.created_before, "created_before", zone)
            const { jobs, total } = yield* tasks.list(ctx.ownerId, {
              limit: args.limit ?? defaultListLimit,
              offset: args.offset ?? 0,
              ...(args.status === undefined ? {} : { status: args.status }),
              ...(args.kind === undefined ? {} : { kind: args.kind }),
              ...(from === undefined ? {} : { createdFrom: from }),
              ...(to === undefined ? {} : { createdTo: to })
            })
            return { total, tasks: jobs.map(taskToJson) }
          })
      }),
      Tool.make({
        name: "task_cancel",
        description: "Cancel one of the user's queued or running tasks by id.",
        parameters: Schema.Struct({
          id: Tool.param(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)), "The task id")
        }),
        run: (args, ctx) =>
          tasks.cancel(ctx.ownerId, args.id.trim()).pipe(Effect.map(taskToJson), Effect.mapError(toToolError))
      })
    ]
)
