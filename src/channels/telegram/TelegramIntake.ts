/**
 * Telegram updates in. Each update is decoded at the edge (`TelegramUpdate`), then:
 *
 * 1. not a person's message (edits, channel posts, member updates, button presses, bots): ignored;
 * 2. in a group, not addressed to the bot (no @mention, no reply to it, no command): ignored,
 *    unless `group_mode = "always"`;
 * 3. sender not allowed (`TelegramAccess`): one short refusal per chat per hour (or a pairing
 *    code), capped over all chats and sent after allowed users' replies, and nothing else: no LLM
 *    call, no history;
 * 4. photos, voice notes, audio and documents: handed on as attachments (file ids, not bytes: the
 *    turn downloads them); no text and nothing readable (stickers, locations...): a short notice in
 *    private, else ignored; album parts are also recorded with their group (`MediaGroups`), so the
 *    album is answered as one turn;
 * 5. a command (`ChatCommands`): answered here, at once (`/stop` must not wait in the mailbox
 *    behind the turn it stops);
 * 6. anything else: handed durably to the conversation's actor, keyed by `update_id`.
 *
 * `handle` fails only when the update could not be stored (the caller must not confirm it to
 * Telegram); everything else is logged and the update is done.
 */
import { Cause, Clock, Data, Effect, Either, FiberSet, LogLevel, Metric, Option } from "effect"
import { type ChatCommand, ChatCommands, commandOf, parseCommand } from "../../commands/ChatCommands.ts"
import { LlmSettings, TelegramSettings } from "../../config/Config.ts"
import { type ConversationRef, keyOf } from "../../domain/Conversation.ts"
import { type Attachment, InboundMessage } from "../../domain/Inbound.ts"
import { MediaGroups } from "../../media/MediaGroups.ts"
import * as Metrics from "../../observability/Metrics.ts"
import * as Tracing from "../../observability/Tracing.ts"
import { Actors } from "../../runtime/Actors.ts"
import type { SendPriority } from "./SendThrottle.ts"
import { SummarisedLog } from "./SummarisedLog.ts"
import { type Admission, replyTo, type Sender, TelegramAccess } from "./TelegramAccess.ts"
import type { BotIdentity } from "./TelegramApi.ts"
import { TelegramSender } from "./TelegramSender.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { decodeUpdate, kindOf, mediaKinds, type TgFile, type TgMessage } from "./TelegramUpdate.ts"

/** An update's id for the log: a number, or "?" (never a stranger's long string). */
const shortId = (raw: unknown) => {
  const id = (raw as { update_id?: unknown } | null)?.update_id
  return typeof id === "number" && Number.isSafeInteger(id) ? String(id) : "?"
}
/** An update's kind for the log: its first key, letters and underscores only, at most 32 of them. */
const shortKind = (raw: unknown) => kindOf(raw).replace(/[^A-Za-z0-9_]/g, "").slice(0, 32) || "unnamed"

/** The sender of messages an anonymous group admin writes. */
const groupAnonymousBot = 1087968824

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const mentionPattern = (username: string) =>
  new RegExp(`(^|[^A-Za-z0-9_@])@${escapeRegExp(username)}(?![A-Za-z0-9_])`, "gi")

export const mentions = (text: string, username: string) => mentionPattern(username).test(text)

/** The text without the bot's @mention(s). */
export const stripMention = (text: string, username: string) => text.replace(mentionPattern(username), "$1").trim()

export const mediaNotice = "I can read text, photos, voice notes and documents, but not this kind of message."

/**
 * The photo size to send: the largest within `maxBytes` (sizes come smallest first; one without
 * a stated size counts as fitting), else the smallest.
 */
export const photoSize = (sizes: ReadonlyArray<TgFile>, maxBytes: number): TgFile | undefined =>
  [...sizes].reverse().find((size) => (size.file_size ?? 0) <= maxBytes) ?? sizes[0]

const fileOf = (kind: Attachment["kind"], file: TgFile): Attachment => ({
  kind,
  fileId: file.file_id,
  ...(file.file_size === undefined ? {} : { fileSize: file.file_size }),
  ...(file.mime_type === undefined ? {} : { mimeType: file.mime_type }),
  ...(file.file_name === undefined ? {} : { fileName: file.file_name })
})

/** The files of a message the turn can read, by reference. */
export const attachmentsOf = (message: TgMessage, maxImageBytes: number): Array<Attachment> => {
  const photo = message.photo === undefined ? undefined : photoSize(message.photo, maxImageBytes)
  return [
    ...(photo === undefined ? [] : [fileOf("photo", photo)]),
    ...(message.voice === undefined ? [] : [fileOf("voice", message.voice)]),
    ...(message.audio === undefined ? [] : [fileOf("audio", message.audio)]),
    ...(message.document === undefined ? [] : [fileOf("document", message.document)])
  ]
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
  dependencies: [TelegramAccess.Default, ChatCommands.Default, SummarisedLog.Default],
  scoped: Effect.gen(function*() {
    const tg = yield* TelegramSettings
    const llm = yield* LlmSettings
    const albums = yield* MediaGroups
    const access = yield* TelegramAccess
    const summary = yield* SummarisedLog
    const conversations = yield* Actors
    const commands = yield* ChatCommands
    const sender = yield* TelegramSender
    const store = yield* TelegramStore
    /** Answers sent here run beside intake, so a slow chat (flood limits) never holds up others. */
    const replies = yield* FiberSet.make()

    const stored = <A, E>(effect: Effect.Effect<A, E>) => Effect.mapError(effect, (cause) => new IntakeError({ cause }))

    /**
     * Sends one of our texts for this update, unless this update was already answered. `reply`
     * may act (`/reset`): it runs only the first time too; it may have nothing to say (`/stop`).
     */
    const answer = (
      ctx: Context,
      reply: string | Effect.Effect<Option.Option<string>>,
      priority: SendPriority = "user"
    ) =>
      Effect.gen(function*() {
        const first = yield* stored(store.claimUpdate(ctx.bot.id, ctx.updateId))
        if (!first) return yield* Effect.logDebug("update already answered: not answering again")
        const body = typeof reply === "string" ? Option.some(reply) : yield* reply
        if (Option.isNone(body)) return
        yield* FiberSet.run(
          replies,
          sender.notify(
            ctx.conversation,
            body.value,
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

    const runCommand = (ctx: Context, command: ChatCommand) =>
      answer(
        ctx,
        commands.run(command, {
          conversation: ctx.conversation,
          userId: String(ctx.userId),
          isGroup: ctx.isGroup,
          botName: ctx.bot.firstName,
          groupMention: ctx.isGroup ? ctx.bot.username : undefined
        })
      )

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
        const attachments = attachmentsOf(message, llm.media.max_image_bytes)
        if (attachments.length === 0 && (text === undefined || text.trim() === "")) {
          if (!isGroup && mediaKinds.some((kind) => message[kind] !== undefined)) return yield* answer(ctx, mediaNotice)
          return yield* Effect.logDebug("message without text: ignored")
        }
        const known = command === undefined ? Option.none() : commandOf(command)
        if (Option.isSome(known)) return yield* runCommand(ctx, known.value)
        const question = text === undefined ? "" : isGroup ? stripMention(text, bot.username) : text.trim()
        if (question === "" && attachments.length === 0) {
          return yield* answer(ctx, `Yes? Write your question after @${bot.username}.`)
        }
        const receivedAt = yield* Clock.currentTimeMillis
        const inbound = new InboundMessage({
          messageId: String(updateId),
          conversation: ctx.conversation,
          userId: String(from.id),
          ...(from.username ?? from.first_name ? { userName: from.username ?? from.first_name } : {}),
          text: question,
          receivedAt,
          requestId: `tg-${updateId}`,
          platformMessageId: message.message_id,
          isGroup,
          attachments,
          ...(message.media_group_id === undefined ? {} : { mediaGroupId: message.media_group_id })
        })
        if (inbound.mediaGroupId !== undefined) {
          yield* stored(albums.add(keyOf(ctx.conversation), inbound.mediaGroupId, inbound))
        }
        yield* Effect.annotateCurrentSpan(Tracing.messageAttributes(inbound))
        // Its span context is stored with the message: the turn, on whichever runner, continues this trace.
        yield* stored(conversations.submit(inbound)).pipe(Effect.annotateSpans(Tracing.messageAttributes(inbound)))
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
        }),
        // One trace per update, whatever the poller or the webhook route was doing.
        Effect.withSpan("Telegram.inbound", {
          root: true,
          kind: "consumer",
          attributes: { [Tracing.attributes.update]: shortId(raw) }
        })
      )

    return { handle } as const
  })
}) {}
