/**
 * `schedule_prompt`, `list_scheduled_prompts`, `cancel_scheduled_prompt`: reminders and recurring
 * prompts the model sets up for the person it is talking to. The owner and the conversation come
 * from the tool context; another owner's job is "not found".
 */
import { Effect, Schema } from "effect"
import * as Tool from "../tools/Tool.ts"
import type { ToolContext } from "../tools/Tool.ts"
import type { ToolGroup } from "../tools/ToolRegistry.ts"
import * as Job from "./Job.ts"
import { maxPromptLength, type NewJob, timingFields } from "./NewJob.ts"
import { type JobNotFound, type Requester, type ScheduleError, Scheduler } from "./Scheduler.ts"

export { maxPromptLength, timingFields }

const defaultListLimit = 20
const maxListLimit = 100

export const requesterOf = (ctx: ToolContext): Requester => ({
  ownerId: ctx.ownerId,
  conversation: ctx.conversation,
  userId: ctx.userId ?? null
})

/** Scheduler errors as tool errors naming the field. */
export const toToolError = (error: ScheduleError | JobNotFound) =>
  error._tag === "JobNotFound"
    ? new Tool.ToolError({ message: error.message, field: "id" })
    : new Tool.ToolError({
      message: error.field === undefined ? error.message : `${error.field}: ${error.message}`,
      ...(error.field === undefined ? {} : { field: error.field })
    })

type Timing = { readonly [K in keyof typeof timingFields]?: Schema.Schema.Type<typeof timingFields[K]> }

export const timingOf = (args: Timing): Omit<NewJob, "strategy" | "payload"> => ({
  ...(args.run_at === undefined ? {} : { runAt: args.run_at }),
  ...(args.delay_seconds === undefined ? {} : { delaySeconds: args.delay_seconds }),
  ...(args.interval_seconds === undefined ? {} : { intervalSeconds: args.interval_seconds }),
  ...(args.cron === undefined ? {} : { cron: args.cron }),
  ...(args.timezone === undefined ? {} : { timezone: args.timezone }),
  ...(args.end_at === undefined ? {} : { endAt: args.end_at }),
  ...(args.notify === undefined ? {} : { notify: args.notify })
})

const promptJson = (job: Job.Job) => {
  const { kind: _kind, ...rest } = Job.toJson(job)
  return rest
}

export const group: ToolGroup<Scheduler> = Effect.map(Scheduler, (scheduler) =>
  scheduler.settings.enabled
    ? [
      Tool.make({
        name: "schedule_prompt",
        description: "Schedule an instruction for yourself to carry out later in this conversation: once (run_at or " +
          "delay_seconds), or repeatedly (interval_seconds or cron). When it is due you receive it as a scheduled " +
          "instruction and your answer is sent to the user. Use it for reminders (\"remind me at 9 to ...\": " +
          "prompt \"Remind the user to ...\") and recurring prompts. Returns the job with its id and next run time.",
        parameters: Schema.Struct({
          prompt: Tool.param(
            Schema.String.pipe(Schema.minLength(1), Schema.maxLength(maxPromptLength)),
            "What to do when it is due, written as an instruction to yourself"
          ),
          ...timingFields
        }),
        run: (args, ctx) =>
          scheduler.schedule(requesterOf(ctx), { strategy: "llm_prompt", payload: args.prompt, ...timingOf(args) })
            .pipe(
              Effect.map(promptJson),
              Effect.mapError(toToolError)
            )
      }),
      Tool.make({
        name: "list_scheduled_prompts",
        description: "List the user's scheduled prompts (newest first) with their ids, status and next run time.",
        parameters: Schema.Struct({
          active_only: Tool.optionalParam(Schema.Boolean, "Only pending or running ones (default true)"),
          limit: Tool.optionalParam(
            Schema.Int.pipe(Schema.between(1, maxListLimit)),
            `At most this many (default ${defaultListLimit})`
          ),
          offset: Tool.optionalParam(Schema.Int.pipe(Schema.nonNegative()), "Skip this many (paging)")
        }),
        run: (args, ctx) =>
          scheduler.list(ctx.ownerId, {
            activeOnly: args.active_only ?? true,
            limit: args.limit ?? defaultListLimit,
            offset: args.offset ?? 0,
            strategies: ["llm_prompt"]
          }).pipe(Effect.map(({ jobs, total }) => ({ total, jobs: jobs.map(promptJson) })))
      }),
      Tool.make({
        name: "cancel_scheduled_prompt",
        description: "Cancel one of the user's scheduled prompts by id (it will not run again).",
        parameters: Schema.Struct({
          id: Tool.param(
            Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)),
            "The job id, as returned by schedule_prompt"
          )
        }),
        run: (args, ctx) =>
          scheduler.cancel(ctx.ownerId, args.id.trim()).pipe(Effect.map(promptJson), Effect.mapError(toToolError))
      })
    ]
    : [])
