/**
 * The chat commands every channel offers: `/start /help /reset /status /stop /tasks /timezone`. A channel
 * parses a line (`parseCommand`, `commandOf`), decides whether it may run it (Telegram: access,
 * deduplication), and shows the text `run` returns. Commands act on the runtime directly, never
 * through the conversation's mailbox: `/stop` must not wait behind the turn it stops.
 */
import { Clock, Data, Effect, Either, Option } from "effect"
import { LlmSettings } from "../config/Config.ts"
import { type ConversationRef, keyOf } from "../domain/Conversation.ts"
import { ContextBudget, type ContextFill } from "../memory/ContextBudget.ts"
import { HistoryStore } from "../memory/HistoryStore.ts"
import { Actors } from "../runtime/Actors.ts"
import { ownerIdOf } from "../runtime/ConversationTurn.ts"
import { Tasks } from "../tasks/Tasks.ts"
import { UserTimezones, type UserTimezonesError } from "../tools/timezone/UserTimezones.ts"
import { ToolsSettings } from "../tools/ToolsConfig.ts"
import { tasksReply } from "./TaskReplies.ts"

/** The command menu (Telegram's `setMyCommands`). */
export const botCommands: ReadonlyArray<{ readonly command: string; readonly description: string }> = [
  { command: "start", description: "Say hello" },
  { command: "help", description: "What I can do" },
  { command: "reset", description: "Forget this conversation" },
  { command: "status", description: "Model, history size, uptime, queue" },
  { command: "stop", description: "Stop the answer being prepared" },
  { command: "tasks", description: "Your scheduled tasks: /tasks, /tasks show ID, /tasks cancel ID" },
  { command: "timezone", description: "Your time zone: /timezone, /timezone Europe/Madrid" }
]

export type ChatCommand = Data.TaggedEnum<{
  Start: {}
  Help: {}
  Reset: {}
  Status: {}
  Stop: {}
  Tasks: { readonly args: string }
  Timezone: { readonly args: string }
}>
export const ChatCommand = Data.taggedEnum<ChatCommand>()

/** A line shaped like a command, known or not. */
export interface ParsedCommand {
  readonly name: string
  readonly args: string
  /** `/cmd@us`, `/cmd@another_bot`, or plain `/cmd`. */
  readonly target: "us" | "other" | "any"
}

/** `/name@bot args`; `username` is the bot's, where a platform lets several bots share a chat. */
export const parseCommand = (text: string, username?: string): ParsedCommand | undefined => {
  const match = /^\/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?=\s|$)/.exec(text)
  if (match === null) return undefined
  const addressee = match[2]
  return {
    name: match[1]!.toLowerCase(),
    args: text.slice(match[0].length).trim(),
    target: addressee === undefined
      ? "any"
      : username === undefined || addressee.toLowerCase() === username.toLowerCase()
      ? "us"
      : "other"
  }
}

/** The command a parsed line names; none for an unknown one (it is a message like any other). */
export const commandOf = (parsed: ParsedCommand): Option.Option<ChatCommand> => {
  switch (parsed.name) {
    case "start":
      return Option.some(ChatCommand.Start())
    case "help":
      return Option.some(ChatCommand.Help())
    case "reset":
      return Option.some(ChatCommand.Reset())
    case "status":
      return Option.some(ChatCommand.Status())
    case "stop":
      return Option.some(ChatCommand.Stop())
    case "tasks":
      return Option.some(ChatCommand.Tasks({ args: parsed.args }))
    case "timezone":
      return Option.some(ChatCommand.Timezone({ args: parsed.args }))
    default:
      return Option.none()
  }
}

/** The command of a line in a chat with only us in it (the console). */
export const parseLine = (text: string): Option.Option<ChatCommand> =>
  Option.flatMap(Option.fromNullable(parseCommand(text)), commandOf)

/** Where a command was written, and by whom. */
export interface CommandContext {
  readonly conversation: ConversationRef
  readonly userId?: string | undefined
  /** A group chat: its notes and tasks are the group's, not the writer's. */
  readonly isGroup?: boolean
  /** How the bot introduces itself (`/start`). */
  readonly botName: string
  /** In a group: the bot's @username, which people must mention to be answered. */
  readonly groupMention?: string | undefined
}

// ---------------------------------------------------------------------------------------------
// Texts

const commandList = [
  "/reset: forget this conversation",
  "/status: model, history size, uptime, queue",
  "/stop: stop the answer being prepared",
  "/tasks: your reminders and tasks (/tasks show ID, /tasks cancel ID)",
  "/timezone: your time zone (/timezone Europe/Madrid sets it)",
  "/help: this list"
].join("\n")

export const helpText = (groupMention?: string) =>
  `Write me anything and I answer.${
    groupMention === undefined ? "" : ` In this group, mention me (@${groupMention}) or reply to one of my messages.`
  }\n\n${commandList}`
export const startText = (botName: string, groupMention?: string) =>
  `Hi! I'm ${botName}, a personal assistant.\n${helpText(groupMention)}`
export const nothingToStopText = "Nothing to stop: no answer is being prepared."
export const timezoneText = (zone: string) =>
  `Your time zone is ${zone}. Times and reminders use it; /timezone Europe/Madrid changes it.`
export const defaultTimezoneText = (zone: string) =>
  `You have not set a time zone: I use ${zone}. Set yours with /timezone followed by an IANA name, ` +
  "such as /timezone Europe/Madrid."
export const timezoneSetText = (zone: string) => `Done: your time zone is now ${zone}.`
export const timezoneFailedText = "I could not read or save your time zone; try again later."

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
/** "3d 4h", "2h 5m", "4m 10s", "12s". */
/** How full the next request's context is, for `/status`. */
export const contextText = (fill: ContextFill) =>
  Option.match(fill.max, {
    onNone: () => `Context: about ${fill.tokens} tokens (no limit set)`,
    onSome: (max) =>
      `Context: about ${fill.tokens} of ${max} tokens (${Math.round((fill.tokens / max) * 100)}%)` +
      (fill.summarised ? ", older messages summarised" : "")
  })

export const roughDuration = (ms: number) => {
  const s = Math.floor(ms / 1000)
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86400), "d"],
    [Math.floor(s / 3600) % 24, "h"],
    [Math.floor(s / 60) % 60, "m"],
    [s % 60, "s"]
  ]
  const first = parts.findIndex(([n]) => n > 0)
  return first < 0 ? "0s" : parts.slice(first, first + 2).map(([n, unit]) => `${n}${unit}`).join(" ")
}

// ---------------------------------------------------------------------------------------------

export class ChatCommands extends Effect.Service<ChatCommands>()("minibot/ChatCommands", {
  effect: Effect.gen(function*() {
    const llm = yield* LlmSettings
    const { timezone: defaultZone, tools } = yield* ToolsSettings
    const actors = yield* Actors
    const history = yield* HistoryStore
    const budget = yield* ContextBudget
    const tasks = yield* Tasks
    const timezones = yield* UserTimezones
    const startedAt = yield* Clock.currentTimeMillis

    const status = (ctx: CommandContext) =>
      Effect.gen(function*() {
        const key = keyOf(ctx.conversation)
        const info = yield* history.info(key)
        const waiting = yield* actors.pending(key).pipe(Effect.either)
        const context = yield* budget.fill(key)
        const now = yield* Clock.currentTimeMillis
        return [
          `Model: ${llm.model}`,
          `History: ${plural(info.messages, "message")} (${plural(info.turns, "exchange")})`,
          contextText(context),
          `Queue: ${Either.isRight(waiting) ? `${plural(waiting.right, "message")} waiting in this chat` : "unknown"}`,
          `Uptime: ${roughDuration(now - startedAt)}`
        ].join("\n")
      })

    const reset = (ctx: CommandContext) =>
      Effect.map(
        Effect.zipLeft(history.clear(keyOf(ctx.conversation)), budget.clear(keyOf(ctx.conversation))),
        (removed) =>
          removed > 0
            ? `Done: I forgot this conversation (${plural(removed, "message")}).`
            : "There was nothing to forget."
      )

    /** A running turn answers "Stopped." itself once its model work is interrupted: nothing to say here. */
    const stop = (ctx: CommandContext) =>
      Effect.map(
        actors.stop(keyOf(ctx.conversation)),
        (stopped) => stopped ? Option.none() : Option.some(nothingToStopText)
      )

    const listTasks = (ctx: CommandContext, args: string) =>
      tasksReply(tasks, ownerIdOf(tools.kv_memory.default_owner_id, ctx), args)

    /** `/timezone` shows the owner's zone (or the default); `/timezone NAME` sets it. */
    const timezone = (ctx: CommandContext, args: string) => {
      const ownerId = ownerIdOf(tools.kv_memory.default_owner_id, ctx)
      const reply: Effect.Effect<string, UserTimezonesError> = args === ""
        ? Effect.map(
          timezones.get(ownerId),
          Option.match({ onNone: () => defaultTimezoneText(defaultZone), onSome: timezoneText })
        )
        : timezones.set(ownerId, args).pipe(
          Effect.map(timezoneSetText),
          Effect.catchTag("UnknownTimezone", (error) => Effect.succeed(`${error.message}.`))
        )
      return reply.pipe(
        Effect.catchAll((error) => Effect.as(Effect.logError("time zone storage failed", error), timezoneFailedText))
      )
    }

    /** Runs the command; the text to show, or none when someone else answers (`/stop` of a running turn). */
    const run = (command: ChatCommand, ctx: CommandContext): Effect.Effect<Option.Option<string>> =>
      Effect.logInfo(`command /${command._tag.toLowerCase()}`).pipe(
        Effect.zipRight(ChatCommand.$match(command, {
          Start: () => Effect.succeed(Option.some(startText(ctx.botName, ctx.groupMention))),
          Help: () => Effect.succeed(Option.some(helpText(ctx.groupMention))),
          Reset: () => Effect.asSome(reset(ctx)),
          Status: () => Effect.asSome(status(ctx)),
          Stop: () => stop(ctx),
          Tasks: ({ args }) => Effect.asSome(listTasks(ctx, args)),
          Timezone: ({ args }) => Effect.asSome(timezone(ctx, args))
        }))
      )

    return { run } as const
  })
}) {}
