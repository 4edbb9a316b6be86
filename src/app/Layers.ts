/**
 * How the subsystems fit together. `Core` is everything a turn needs; the daemon adds channels,
 * the control server and observers. Tests build `Core` with their own config and LLM.
 */
import { Effect, Layer } from "effect"
import { Bus, BusLogger } from "../bus/Bus.ts"
import { ChannelGate } from "../channels/ChannelGate.ts"
import { ChannelHealth } from "../channels/ChannelHealth.ts"
import { ChannelsFailed, ChannelStatus } from "../channels/ChannelStatus.ts"
import * as ConsoleChannel from "../channels/console/ConsoleChannel.ts"
import { Outbound } from "../channels/Outbound.ts"
import * as TelegramChannel from "../channels/telegram/TelegramChannel.ts"
import * as TelegramRevocation from "../channels/telegram/TelegramRevocation.ts"
import { AppConfig } from "../config/Config.ts"
import type { LoadedConfig } from "../config/ConfigLoader.ts"
import * as ControlServer from "../control/ControlServer.ts"
import { Readiness } from "../control/Readiness.ts"
import { Llm } from "../llm/Llm.ts"
import { MediaGroups } from "../media/MediaGroups.ts"
import { ContextBudget } from "../memory/ContextBudget.ts"
import { HistoryStore } from "../memory/HistoryStore.ts"
import * as Logging from "../observability/Logging.ts"
import * as MemoryTrim from "../observability/MemoryTrim.ts"
import * as ProcessMetrics from "../observability/ProcessMetrics.ts"
import * as Tracing from "../observability/Tracing.ts"
import { MailboxHandlers } from "../runtime/Actors.ts"
import * as ClusterActors from "../runtime/ClusterActors.ts"
import { ConversationTurn } from "../runtime/ConversationTurn.ts"
import { TurnLedger } from "../runtime/TurnLedger.ts"
import * as JobRunner from "../scheduler/JobRunner.ts"
import { FiringHandler } from "../scheduler/JobRunner.ts"
import { JobStore } from "../scheduler/JobStore.ts"
import { Scheduler } from "../scheduler/Scheduler.ts"
import * as SchedulerTools from "../scheduler/SchedulerTools.ts"
import * as Database from "../storage/Database.ts"
import { TaskStrategies } from "../tasks/Strategies.ts"
import { Tasks } from "../tasks/Tasks.ts"
import * as TaskTools from "../tasks/TaskTools.ts"
import * as ChatHistoryTools from "../tools/builtin/ChatHistoryTools.ts"
import * as BuiltinTools from "../tools/BuiltinTools.ts"
import { NotesStore } from "../tools/notes/NotesStore.ts"
import { UserTimezones } from "../tools/timezone/UserTimezones.ts"
import { ToolsSettings } from "../tools/ToolsConfig.ts"
import * as Webhooks from "../webhooks/Webhooks.ts"

/**
 * `ToolsSettings` for the tools and the task strategies, read from AppConfig here. (The config
 * layers also provide the tag; taking it from there changes the order in which the runtime starts,
 * and the tests that run the scheduler on the TestClock then wait forever on the cluster's first
 * shard acquisition, which sleeps on the clock.)
 */
const ToolsSettingsLive = Layer.effect(
  ToolsSettings,
  Effect.map(AppConfig, ({ config }) => ({ tools: config.tools, timezone: config.runtime.timezone }))
)

/** The tools the model may call, and the notes purge worker. */
const Tools = Layer.merge(
  BuiltinTools.registry([ChatHistoryTools.group, SchedulerTools.group, TaskTools.group]),
  BuiltinTools.purgeNotes
).pipe(
  Layer.provide(Layer.merge(NotesStore.Default, ToolsSettingsLive))
)

/** Jobs and tasks (rows, validation, wake-ups) and owners' time zones; needs the runner's job mailbox. */
const Scheduling = Tasks.Default.pipe(
  Layer.provideMerge(Scheduler.DefaultWithoutDependencies),
  Layer.provideMerge(Layer.merge(JobStore.Default, UserTimezones.Default))
)

/** Services shared by every subsystem, given the database and the LLM. */
const Services = ContextBudget.Default.pipe(
  Layer.provideMerge(Tools),
  Layer.provideMerge(Layer.mergeAll(
    HistoryStore.fromConfig,
    Outbound.Default,
    Readiness.Default,
    MediaGroups.Default,
    Scheduling
  ))
)

/** What the actors do with their mail: a turn for a person's message, the job runner for a due firing. */
const Handlers = Layer.effect(
  MailboxHandlers,
  Effect.gen(function*() {
    const turn = yield* ConversationTurn
    const jobs = yield* FiringHandler
    return { message: (message) => Effect.asVoid(turn.run(message)), firing: jobs.fire }
  })
)

/** Actors and turns over a given LLM layer; needs AppConfig, a SqlClient and every channel's sender. */
export const runtimeWith = <E, R>(llm: Layer.Layer<Llm, E, R>) =>
  ClusterActors.entities.pipe(
    Layer.provideMerge(Handlers),
    // Before the actors read their mailboxes: a revoked person's jobs never fire again.
    Layer.provideMerge(TelegramRevocation.atStart),
    // Due jobs run inside the conversation actors, through the task strategies.
    Layer.provideMerge(JobRunner.layer),
    Layer.provideMerge(TaskStrategies.layer.pipe(Layer.provide(ToolsSettingsLive))),
    Layer.provideMerge(ConversationTurn.Default),
    Layer.provideMerge(Services),
    Layer.provideMerge(ClusterActors.client),
    // Consuming before the actors start: no event of a redelivered turn is missed.
    Layer.provideMerge(Webhooks.layer),
    Layer.provideMerge(Layer.mergeAll(Bus.fromConfig, TurnLedger.Default, llm))
  )

/** Every channel's sender, per `[channels.*]`: built before the actors and released after them. */
export const Senders = Layer.merge(TelegramChannel.sender, ConsoleChannel.daemonSender)

/** Everything a turn needs, on the configured database and LLM. */
export const Core = runtimeWith(Llm.openai).pipe(Layer.provideMerge(Database.layer))

/** The channels `[channels.*]` enables, the control server and observers; needs the core and the senders. */
export const Channels = Layer.mergeAll(
  ControlServer.layer,
  BusLogger,
  ConsoleChannel.layer,
  ProcessMetrics.layer,
  MemoryTrim.layer
).pipe(
  // Built before the control server: the Telegram webhook route must be registered before it serves.
  Layer.provideMerge(TelegramChannel.layer)
)

/** What intake and the API share about each channel: paused (stored), failing; needs the database and the bus. */
export const ChannelControl = Layer.merge(ChannelGate.layer, ChannelHealth.layer)

/** The daemon: senders first, then the core (database, actors), then the channels' intake. */
export const Daemon = Channels.pipe(
  Layer.provideMerge(ChannelControl),
  Layer.provideMerge(Core),
  Layer.provideMerge(Senders),
  Layer.provideMerge(ChannelStatus.layer)
)

/**
 * The daemon, up: built, then "started" once every enabled channel has connected (Telegram once
 * getMe answered). Fails when every one of them failed for good, so a supervisor sees the exit.
 */
export const Running = <R>(channels: ReadonlyArray<string>, started: Effect.Effect<void, never, R>) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const failures = yield* (yield* ChannelStatus).settled
    if (failures.length >= channels.length) return yield* new ChannelsFailed({ failures })
    yield* started
  })).pipe(Layer.provide(Daemon))

/** `minibot console`: the terminal chat over the core (replies to Telegram chats still go out). */
export const ConsoleSession = ConsoleChannel.ConsoleChannel.Default.pipe(
  Layer.provideMerge(Core),
  Layer.provideMerge(Layer.merge(TelegramChannel.sender, ConsoleChannel.sender))
)

/**
 * The configuration, the logger it asks for and the tracer of `[telemetry]` (after the logger, so
 * the exporter logs through it; released last, so the spans of the shutdown are exported too).
 */
export const Configured = (loaded: LoadedConfig) =>
  Layer.merge(
    AppConfig.loaded(loaded),
    Tracing.layer(loaded.config.telemetry).pipe(Layer.provideMerge(Logging.layer(loaded.config)))
  )
