/**
 * Telegram updates in. Each update is decoded at the edge (`TelegramUpdate`), then:
 *
 * 1. not a person's message (edits, channel posts, member updates, button presses, bots): ignored;
 * 2. in a group, not addressed to the bot (no @mention, no reply to it, no command): ignored,
 *    unless `group_mode = "always"`;
 * 3. sender not allowed (`TelegramAccess`): one short refusal per chat per hour (or a pairing
 *    code), capped over all chats and sent after allowed users' replies, and nothing else: no LLM
 *    call, no history;
 * 4. no text (stickers, voice, photos without caption): a short notice in private, else ignored;
 * 5. a command: answered here, at once (`/stop` must not wait in the mailbox behind the turn
 *    it stops);
 * 6. anything else: handed durably to the conversation's actor, keyed by `update_id`.
 *
 * `handle` fails only when the update could not be stored (the caller must not confirm it to
 * Telegram); everything else is logged and the update is done.
 */
import { Cause, Clock, Data, Effect, Either, FiberSet, LogLevel, Metric, Option } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { type ConversationRef, keyOf } from "../../domain/Conversation.ts"
import { InboundMessage } from "../../domain/Inbound.ts"
import { HistoryStore } from "../../memory/HistoryStore.ts"
import * as Metrics from "../../observability/Metrics.ts"
import { Actors } from "../../runtime/Actors.ts"
import { ownerIdOf } from "../../runtime/ConversationTurn.ts"
import { Tasks } from "../../tasks/Tasks.ts"
import type { SendPriority } from "./SendThrottle.ts"
import { SummarisedLog } from "./SummarisedLog.ts"
import { type Admission, replyTo, type Sender, TelegramAccess } from "./TelegramAccess.ts"
import type { BotIdentity } from "./TelegramApi.ts"
import { TelegramSender } from "./TelegramSender.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { decodeUpdate, kindOf, mediaKinds, type TgMessage } from "./TelegramUpdate.ts"

/** An update's id for the log: a number, or "?" (never a stranger's long string). */
const shortId = (raw: unknown) => {
  const id = (raw as { update_id?: unknown } | null)?.update_id
  return typeof id === "number" && Number.isSafeInteger(id) ? String(id) : "?"
}
/** An update's kind for the log: its first key, letters and underscores only, at most 32 of them. */
const shortKind = (raw: unknown) => kindOf(raw).replace(/[^A-Za-z0-9_]/g, "").slice(0, 32) || "unnamed"

/** The sender of messages an anonymous group admin writes. */
const groupAnonymousBot = 1087968824

// ---------------------------------------------------------------------------------------------
// Commands

export const botCommands: ReadonlyArray<{ readonly command: string; readonly description: string }> = [
  { command: "start", description: "Say hello" },
  { command: "help", description: "What I can do" },
  { command: "reset", description: "Forget this conversation" },
  { command: "status", description: "Model, history size, uptime, queue" },
  { command: "stop", description: "Stop the answer being prepared" },
  { command: "tasks", description: "Your scheduled tasks: /tasks, /tasks show ID, /tasks cancel ID" }
]
const known = new Set(botCommands.map((c) => c.command))

export interface ParsedCommand {
  readonly name: string
  readonly args: string
  /** `/cmd@us`, `/cmd@another_bot`, or plain `/cmd`. */
  readonly target: "us" | "other" | "any"
}

export const parseCommand = (text: string, username: string): ParsedCommand | undefined => {
  const match = /^\/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?=\s|$)/.exec(text)
  if (match === null) return undefined
  const addressee = match[2]
  return {
    name: match[1]!.toLowerCase(),
    args: text.slice(match[0].length).trim(),
    target: addressee === undefined ? "any" : addressee.toLowerCase() === username.toLowerCase() ? "us" : "other"
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const mentionPattern = (username: string) =>
  new RegExp(`(^|[^A-Za-z0-9_@])@${escapeRegExp(username)}(?![A-Za-z0-9_])`, "gi")

export const mentions = (text: string, username: string) => mentionPattern(username).test(text)

/** The text without the bot's @mention(s). */
export const stripMention = (text: string, username: string) => text.replace(mentionPattern(username), "$1").trim()

// ---------------------------------------------------------------------------------------------
// Texts

const commandList = [
  "/reset: forget this conversation",
  "/status: model, history size, uptime, queue",
  "/stop: stop the answer being prepared",
  "/tasks: your reminders and tasks (/tasks show ID, /tasks cancel ID)",
  "/help: this list"
].join("\n")

const helpText = (bot: BotIdentity, isGroup: boolean) =>
  `Write me anything and I answer.${
    isGroup ? ` In this group, mention me (@${bot.username}) or reply to one of my messages.` : ""
  }\n\n${commandList}`
const startText = (bot: BotIdentity, isGroup: boolean) =>
  `Hi! I'm ${bot.firstName}, a personal assistant.\n${helpText(bot, isGroup)}`
export const mediaNotice = "I can only read text for now."
const nothingToStopText = "Nothing to stop: no answer is being prepared."

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
/** "3d 4h", "2h 5m", "4m 10s", "12s". */
const roughDuration = (ms: number) => {
  const s = Math.floor(ms / 1000)
  const parts: Array<[number, string]> = [[Math.floor(s / 86400), "d"], [Math.floor(s / 3600) % 24, "h"], [
    Math.floor(s / 60) % 60,
    "m"
  ], [s % 60, "s"]]
  const first = parts.findIndex(([n]) => n > 0)
  return first < 0 ? "0s" : parts.slice(first, first + 2).map(([n, unit]) => `${n}${unit}`).join(" ")
}

// ---------------------------------------------------------------------------------------------

/** The update could not be stored: it must not be confirmed to Telegram (it will come again). */
export class IntakeError extends Data.TaggedError("IntakeError")<{ readonly cause: unknown }> {
  override get message() {
    return "the update could not be stored"
  }
}

interface Context {
  readonly updateId: number
  readonly bot: BotIdentity
  readonly message: TgMessage
  readonly userId: number
  readonly chatId: number
  readonly isGroup: boolean
  readonly conversation: ConversationRef
}

export class TelegramIntake extends Effect.Service<TelegramIntake>()("minibot/TelegramIntake", {
  dependencies: [TelegramAccess.Default, SummarisedLog.Default],
  scoped: Effect.gen(function*() {
    const { config } = yield* AppConfig
    const tg = config.channels.telegram
    const access = yield* TelegramAccess
    const summary = yield* SummarisedLog
    const conversations = yield* Actors
    const history = yield* HistoryStore
    const sender = yield* TelegramSender
    const store = yield* TelegramStore
    const tasks = yield* Tasks
    const startedAt = yield* Clock.currentTimeMillis
    /** Answers sent here run beside intake, so a slow chat (flood limits) never holds up others. */
    const replies = yield* FiberSet.make()

    const stored = <A, E>(effect: Effect.Effect<A, E>) => Effect.mapError(effect, (cause) => new IntakeError({ cause }))

    /**
     * Sends one of our texts for this update, unless this update was already answered. `text` may
     * be an action whose result is the text (`/reset`): it runs only the first time too.
     */
    const answer = (
      ctx: Context,
      text: string | Effect.Effect<string, IntakeError>,
      priority: SendPriority = "user"
    ) =>
      Effect.gen(function*() {
        const first = yield* stored(store.claimUpdate(ctx.bot.id, ctx.updateId))
        if (!first) return yield* Effect.logDebug("update already answered: not answering again")
        const body = typeof text === "string" ? text : yield* text
        yield* FiberSet.run(
          replies,
          sender.notify(
            ctx.conversation,
            body,
            { platformMessageId: ctx.message.message_id, isGroup: ctx.isGroup },
            priority
          )
            .pipe(
              Effect.catchAll((error) => Effect.logWarning(`could not answer: ${error.reason}`)),
              Effect.annotateLogs({
                component: "telegram",
                update_id: String(ctx.updateId),
                chat_id: String(ctx.chatId)
              })
            )
        )
      })

    /** A stranger is told (once per chat per refusal interval) why nobody answers. */
    const refuse = (ctx: Context, person: Sender, admission: Admission) =>
      Option.match(replyTo(person, admission), {
        onNone: () => Effect.void,
        onSome: (text) => answer(ctx, text, "stranger")
      })

    const status = (ctx: Context) =>
      Effect.gen(function*() {
        const key = keyOf(ctx.conversation)
        const info = yield* history.info(key)
        const waiting = yield* conversations.pending(key).pipe(Effect.either)
        const now = yield* Clock.currentTimeMillis
        return [
          `Model: ${config.llm.model}`,
          `History: ${plural(info.messages, "message")} (${plural(info.turns, "exchange")})`,
          `Queue: ${Either.isRight(waiting) ? `${plural(waiting.right, "message")} waiting in this chat` : "unknown"}`,
          `Uptime: ${roughDuration(now - startedAt)}`
        ].join("\n")
      })

    const runCommand = (ctx: Context, name: string, text: string) =>
      Effect.gen(function*() {
        const key = keyOf(ctx.conversation)
        yield* Effect.logInfo(`command /${name}`)
        switch (name) {
          case "start":
            return yield* answer(ctx, startText(ctx.bot, ctx.isGroup))
          case "help":
            return yield* answer(ctx, helpText(ctx.bot, ctx.isGroup))
          case "reset":
            return yield* answer(
              ctx,
              Effect.map(history.clear(key), (removed) =>
                removed > 0
                  ? `Done: I forgot this conversation (${plural(removed, "message")}).`
                  : "There was nothing to forget.")
            )
          case "status":
            return yield* answer(ctx, status(ctx))
          case "tasks": {
            const owner = ownerIdOf(config.tools.kv_memory.default_owner_id, {
              conversation: ctx.conversation,
              userId: String(ctx.userId)
            })
            return yield* answer(
              ctx,
              Effect.map(
                tasks.command(owner, text),
                Option.getOrElse(() => "Usage: /tasks, /tasks show ID, /tasks cancel ID")
              )
            )
          }
          case "stop": {
            // The turn itself answers "Stopped." once its model work is interrupted.
            const stopped = yield* conversations.stop(key)
            if (!stopped) {
              yield* answer(ctx, nothingToStopText)
            }
            return
          }
        }
      })

    const onMessage = (updateId: number, message: TgMessage, bot: BotIdentity) =>
      Effect.gen(function*() {
        const { chat, from } = message
        // Anonymous group admins write as Telegram's GroupAnonymousBot: a person, allowed by the chat id.
        const isBot = from?.is_bot === true && from.id !== groupAnonymousBot
        if (chat.type === "channel" || from === undefined || isBot) {
          return yield* Effect.logDebug("message not from a person: ignored")
        }
        const isGroup = chat.type === "group" || chat.type === "supergroup"
        const text = message.text ?? message.caption
        const command = text === undefined ? undefined : parseCommand(text, bot.username)
        if (command?.target === "other") return yield* Effect.logDebug("command for another bot: ignored")
        const addressed = command !== undefined ||
          (text !== undefined && mentions(text, bot.username)) ||
          message.reply_to_message?.from?.id === bot.id
        if (isGroup && tg.group_mode === "mention" && !addressed) {
          return yield* Effect.logDebug("group message not addressed to the bot: ignored")
        }
        const ctx: Context = {
          updateId,
          bot,
          message,
          userId: from.id,
          chatId: chat.id,
          isGroup,
          conversation: {
            channel: "telegram",
            chatId: String(chat.id),
            // Forum topics: the reply goes to the topic. (Other threads are reply chains, not topics.)
            ...(message.is_topic_message === true && message.message_thread_id !== undefined
              ? { threadId: message.message_thread_id }
              : {})
          }
        }
        const person: Sender = { userId: from.id, chatId: chat.id, isGroup, userName: from.username ?? from.first_name }
        const admission = yield* stored(access.admit(person))
        if (admission._tag !== "Admitted") return yield* refuse(ctx, person, admission)
        if (text === undefined || text.trim() === "") {
          if (!isGroup && mediaKinds.some((kind) => message[kind] !== undefined)) return yield* answer(ctx, mediaNotice)
          return yield* Effect.logDebug("message without text: ignored")
        }
        if (command !== undefined && known.has(command.name)) return yield* runCommand(ctx, command.name, text)
        const question = isGroup ? stripMention(text, bot.username) : text.trim()
        if (question === "") return yield* answer(ctx, `Yes? Write your question after @${bot.username}.`)
        const receivedAt = yield* Clock.currentTimeMillis
        yield* stored(conversations.submit(
          new InboundMessage({
            messageId: String(updateId),
            conversation: ctx.conversation,
            userId: String(from.id),
            ...(from.username ?? from.first_name ? { userName: from.username ?? from.first_name } : {}),
            text: question,
            receivedAt,
            requestId: `tg-${updateId}`,
            platformMessageId: message.message_id,
            isGroup
          })
        ))
        yield* Effect.logDebug("message handed to its conversation")
      }).pipe(
        Effect.annotateLogs({
          chat_id: String(message.chat.id),
          ...(message.from ? { user_id: String(message.from.id) } : {})
        })
      )

    /** Handles one update; fails only when it could not be stored (do not confirm it then). */
    const handle = (raw: unknown, bot: BotIdentity): Effect.Effect<void, IntakeError> =>
      Effect.gen(function*() {
        yield* Metric.increment(Metrics.telegramUpdates)
        const decoded = decodeUpdate(raw)
        // One short line per kind (never the body, which a stranger controls), repeats counted.
        if (Either.isLeft(decoded)) {
          return yield* summary.note(
            LogLevel.Warning,
            "updates in an unexpected shape, ignored",
            `update ${shortId(raw)} (${shortKind(raw)})`
          )
        }
        const { message, update_id } = decoded.right
        if (message === undefined) {
          return yield* summary.note(LogLevel.Debug, `${shortKind(raw)} updates, ignored`, `update ${update_id}`)
        }
        yield* onMessage(update_id, message, bot)
      }).pipe(
        Effect.catchAllDefect((defect) => Effect.logError("handling an update failed: skipped", Cause.die(defect))),
        Effect.annotateLogs({
          component: "telegram",
          update_id: shortId(raw)
        })
      )

    return { handle } as const
  })
}) {}
