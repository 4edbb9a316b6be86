/**
 * The built-in tools as one registry layer, plus the notes purge worker. Other subsystems add
 * their own groups (chat history, scheduling...) through `registry([...])`.
 */
import { Duration, Effect, Layer } from "effect"
import * as CalculatorTool from "./builtin/CalculatorTool.ts"
import * as DateTimeTool from "./builtin/DateTimeTool.ts"
import * as HttpRequestTool from "./builtin/HttpRequestTool.ts"
import * as NotesTools from "./builtin/NotesTools.ts"
import * as TimezoneTool from "./builtin/TimezoneTool.ts"
import { NotesStore } from "./notes/NotesStore.ts"
import { type GroupsContext, type ToolGroup, ToolRegistry } from "./ToolRegistry.ts"
import { ToolsSettings } from "./ToolsConfig.ts"

/** `current_datetime`, `set_timezone`, `calculator`, `memory_*` (if enabled), `http_request` (if enabled). */
export const groups = [
  DateTimeTool.group,
  TimezoneTool.group,
  CalculatorTool.group,
  NotesTools.group,
  HttpRequestTool.group
] as const

/** The registry of the built-in tools and `extra` groups, with `[tools] timeout_seconds` as default time limit. */
export const registry = <const Extra extends ReadonlyArray<ToolGroup<any>>>(extra: Extra) =>
  Layer.unwrapEffect(
    Effect.map(ToolsSettings, ({ tools }) =>
      ToolRegistry.layer([...groups, ...extra] as const, { timeout: Duration.seconds(tools.timeout_seconds) }))
  ) as Layer.Layer<
    ToolRegistry,
    never,
    ToolsSettings | GroupsContext<typeof groups> | GroupsContext<Extra>
  >

/** Deletes expired notes every `[tools.kv_memory] purge_interval_seconds` (nothing if notes are off). */
export const purgeNotes = Layer.unwrapEffect(
  Effect.map(ToolsSettings, ({ tools }) =>
    tools.kv_memory.enabled
      ? NotesStore.purgeEvery(Duration.seconds(tools.kv_memory.purge_interval_seconds))
      : Layer.empty as Layer.Layer<never, never, NotesStore>)
)
