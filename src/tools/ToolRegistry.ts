/**
 * The tools offered to the model in this process, and the one way to run them: `execute` turns
 * any outcome (unknown tool, bad JSON, bad argument, failure, defect, timeout) into the JSON text
 * of a tool message, so a tool can never crash a turn.
 */
import { Cause, Context, Duration, Effect, Layer } from "effect"
import type { ToolCall, ToolSpec } from "../domain/ChatMessage.ts"
import type { Tool, ToolContext } from "./Tool.ts"
import { ToolError } from "./Tool.ts"

/** Tools contributed by one subsystem, built from its services (empty when it is disabled). */
export type ToolGroup<R = never> = Effect.Effect<ReadonlyArray<Tool>, never, R>

/** What a list of groups needs (`never` for an empty list). */
export type GroupsContext<Groups extends ReadonlyArray<ToolGroup<any>>> = ContextOf<Groups[number]>
// Distributive on purpose: `never` (no groups) must give `never`, not `unknown`.
type ContextOf<G> = G extends ToolGroup<infer R> ? R : never

export interface ExecuteOptions {
  /** Time limit of a tool without its own `timeout` (default 30 seconds). */
  readonly timeout?: Duration.DurationInput
}

/** The answer to one call, ready for a `tool` message. */
export interface ToolResult {
  readonly tool_call_id: string
  readonly name: string
  /** `{"ok":true,"result":...}` or `{"ok":false,"error":"...","field":"..."}` */
  readonly content: string
}

export const defaultTimeout = Duration.seconds(30)
/** Calls of one model step run together, up to this many at a time. */
const stepConcurrency = 8

export class ToolRegistry extends Context.Tag("minibot/ToolRegistry")<ToolRegistry, {
  readonly tools: ReadonlyArray<Tool>
  readonly specs: () => ReadonlyArray<ToolSpec>
  /** Never fails: every outcome is JSON text for the model. */
  readonly execute: (call: ToolCall, ctx: ToolContext, options?: ExecuteOptions) => Effect.Effect<string>
  /** Runs the calls of one step concurrently; results in call order, each with its `tool_call_id`. */
  readonly executeAll: (
    calls: ReadonlyArray<ToolCall>,
    ctx: ToolContext,
    options?: ExecuteOptions
  ) => Effect.Effect<ReadonlyArray<ToolResult>>
}>() {
  static readonly make = make

  /** Collects the tools of every group; `defaults` apply to `execute` calls that give no options. */
  static readonly layer = <const Groups extends ReadonlyArray<ToolGroup<any>>>(
    groups: Groups,
    defaults: ExecuteOptions = {}
  ): Layer.Layer<ToolRegistry, never, GroupsContext<Groups>> =>
    Layer.effect(
      ToolRegistry,
      Effect.map(Effect.all(groups as ReadonlyArray<ToolGroup<any>>), (lists) => make(lists.flat(), defaults))
    )
}

export function make(tools: ReadonlyArray<Tool>, defaults: ExecuteOptions = {}): ToolRegistry["Type"] {
  const byName = new Map<string, Tool>()
  for (const tool of tools) {
    if (byName.has(tool.name)) throw new Error(`duplicate tool name "${tool.name}"`)
    byName.set(tool.name, tool)
  }
  const specs = tools.map((tool) => tool.spec)

  const execute = (call: ToolCall, ctx: ToolContext, options: ExecuteOptions = defaults) => {
    const name = call.function.name
    const tool = byName.get(name)
    if (tool === undefined) {
      const known = [...byName.keys()].join(", ") || "none"
      return Effect.succeed(failure(new ToolError({ message: `Unknown tool "${name}". Available tools: ${known}` })))
    }
    const timeout = tool.timeout ?? Duration.decode(options.timeout ?? defaults.timeout ?? defaultTimeout)
    return parseArguments(call.function.arguments).pipe(
      Effect.flatMap((args) => tool.invoke(args, ctx)),
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new ToolError({ message: `Tool "${name}" timed out after ${Duration.format(timeout)}` })
      }),
      Effect.map(success),
      Effect.catchTag(
        "ToolError",
        (error) => Effect.logDebug("tool call failed", error.message).pipe(Effect.as(failure(error)))
      ),
      // External interruption skips this handler (the turn is being stopped); an interruption
      // raised inside the tool, or a defect, becomes an answer and the turn goes on.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.succeed(failure(new ToolError({ message: `Tool "${name}" was interrupted` })))
          : Effect.logError("tool crashed", cause).pipe(
            Effect.as(failure(new ToolError({ message: `Tool "${name}" failed unexpectedly` })))
          )
      ),
      Effect.withLogSpan(`tool.${name}`),
      Effect.withSpan(`Tool.${name}`, { attributes: { "minibot.tool": name, "minibot.tool_call_id": call.id } }),
      Effect.annotateLogs({ tool: name, tool_call_id: call.id, chat_id: ctx.conversation.chatId })
    )
  }

  const executeAll = (calls: ReadonlyArray<ToolCall>, ctx: ToolContext, options?: ExecuteOptions) =>
    Effect.forEach(
      calls,
      (call) =>
        Effect.map(execute(call, ctx, options), (content): ToolResult => ({
          tool_call_id: call.id,
          name: call.function.name,
          content
        })),
      { concurrency: stepConcurrency }
    )

  return { tools, specs: () => specs, execute, executeAll }
}

const parseArguments = (text: string): Effect.Effect<unknown, ToolError> =>
  Effect.try({
    // Some models send "" for a tool without arguments.
    try: () => (text.trim() === "" ? {} : JSON.parse(text)) as unknown,
    catch: (error) =>
      new ToolError({
        message: `The arguments are not valid JSON: ${error instanceof Error ? error.message : String(error)}`
      })
  })

const success = (result: unknown): string => {
  try {
    return JSON.stringify({ ok: true, result: result === undefined ? null : result })
  } catch (error) {
    return failure(new ToolError({ message: `The tool result could not be serialised: ${String(error)}` }))
  }
}

const failure = (error: ToolError): string =>
  JSON.stringify(
    error.field === undefined
      ? { ok: false, error: error.message }
      : { ok: false, error: error.message, field: error.field }
  )
