/**
 * The Telegram Bot API, and the only module that touches grammY's client.
 *
 * Every call is an Effect over `Effect.tryPromise` with the abort signal passed down, so a timeout
 * or an interruption really cancels the HTTP request. grammY errors become one `TelegramError`.
 *
 * Flood limits: `sendMessage` waits for its chat's turn under `SendThrottle` (bursts per chat,
 * Telegram's rates, allowed users before strangers); typing indicators and polling are not queued
 * behind replies. A 429 means Telegram did not send the message: that chat alone is held for
 * `retry_after` and the message goes again (`rateLimitRetry`). Network errors and 5xx are
 * ambiguous (the message may have been sent): they are left to the sender, which retries a
 * bounded number of times. Once shutdown has begun (`Draining`), a message that would have to
 * wait for its turn is held, not sent: it goes after the restart.
 */
import { Clock, Data, Duration, Effect, Metric, MetricLabel, Option, Redacted } from "effect"
import { Api, GrammyError, HttpError } from "grammy"
import type { BotCommand, Message, ReplyParameters, Update, UserFromGetMe } from "grammy/types"
import { TelegramSettings } from "../../config/Config.ts"
import * as Metrics from "../../observability/Metrics.ts"
import { Draining } from "../../runtime/Draining.ts"
import { type SendPriority, SendThrottle, telegramFloodLimits, turnTaker } from "./SendThrottle.ts"
import { rateLimitRetry } from "./TelegramSchedules.ts"
import { TelegramTimings } from "./TelegramTimings.ts"

/** A Bot API call failed: Telegram said no (`api`), or no usable answer came (`network`, `timeout`). */
export class TelegramError extends Data.TaggedError("TelegramError")<{
  readonly method: string
  readonly kind: "api" | "network" | "timeout"
  /** Telegram's `error_code` (an HTTP status), for `api` errors. */
  readonly code?: number | undefined
  readonly description: string
  readonly retryAfter?: number | undefined
}> {
  override get message() {
    return `${this.method} failed (${this.code ?? this.kind}): ${this.description}`
  }
}

/** The token is wrong or revoked: retrying never helps. */
export const isUnauthorized = (e: TelegramError) => e.code === 401

/** The chat cannot receive messages from this bot (blocked, kicked, gone): retrying never helps. */
export const isPermanentForChat = (e: TelegramError) =>
  e.code === 401 || e.code === 403 ||
  (e.code === 400 &&
    /chat not found|user not found|peer_id_invalid|bot was kicked|have no rights|not enough rights|chat_write_forbidden/i
      .test(e.description))

/** Telegram could not parse the HTML of the message. */
export const isEntityParseError = (e: TelegramError) => e.code === 400 && /can't parse entities/i.test(e.description)

/** An edit that changed nothing: the message already shows that text. */
export const isNotModified = (e: TelegramError) => e.code === 400 && /message is not modified/i.test(e.description)

/** The message to edit is gone or can no longer be edited. */
export const isEditImpossible = (e: TelegramError) =>
  e.code === 400 && /message to edit not found|message can't be edited|message_id_invalid/i.test(e.description)

/** The server does not know the method (an older self-hosted Bot API server, for sendMessageDraft). */
export const isUnknownMethod = (e: TelegramError) => e.code === 404

/** The message may or may not have been sent (no answer, or a server error). */
export const isAmbiguous = (e: TelegramError) => e.kind !== "api" || (e.code !== undefined && e.code >= 500)

export interface BotIdentity {
  readonly id: number
  readonly username: string
  readonly firstName: string
}

export interface SendMessageOptions {
  readonly parseMode?: "HTML" | undefined
  readonly replyTo?: number | undefined
  readonly threadId?: number | undefined
  /** A stranger's message waits behind allowed users' (see `SendThrottle`). */
  readonly priority?: SendPriority | undefined
}

/** grammY types signals with its own shim; at run time it takes the platform's AbortSignal. */
type GrammySignal = NonNullable<Parameters<Api["getMe"]>[0]>

/** grammY's error, as a value that carries nothing secret (network errors may quote the URL, token included). */
const toTelegramError = (method: string, error: unknown, scrub: (text: string) => string): TelegramError => {
  if (error instanceof GrammyError) {
    return new TelegramError({
      method,
      kind: "api",
      code: error.error_code,
      description: scrub(error.description),
      retryAfter: error.parameters.retry_after
    })
  }
  if (error instanceof HttpError) {
    const inner = error.error as { message?: unknown; cause?: { code?: unknown } } | undefined
    const reason = [inner?.message, inner?.cause?.code].filter((part) => typeof part === "string").join(" ")
    const timedOut = typeof inner?.message === "string" && inner.message.includes("timed out")
    return new TelegramError({
      method,
      kind: timedOut ? "timeout" : "network",
      description: scrub(reason === "" ? error.message : `${error.message} ${reason}`)
    })
  }
  return new TelegramError({ method, kind: "network", description: scrub(String(error)) })
}

export class TelegramApi extends Effect.Service<TelegramApi>()("minibot/TelegramApi", {
  scoped: Effect.gen(function*() {
    const tg = yield* TelegramSettings
    const timings = yield* TelegramTimings
    const throttle = new SendThrottle(telegramFloodLimits, yield* Clock.currentTimeMillis)
    const takeTurn = yield* turnTaker(throttle, (yield* Draining).started)
    const token = tg.bot_token === undefined ? "" : Redacted.value(tg.bot_token).trim()
    const apiRoot = tg.api_root.replace(/\/+$/, "")
    const scrub = (text: string) =>
      (token === "" ? text : text.split(token).join("<redacted>")).replace(/bot\d+:[\w-]+/g, "bot<redacted>")

    const requestSeconds = Duration.toSeconds(timings.requestTimeout)
    const api = new Api(token, { apiRoot, timeoutSeconds: requestSeconds })
    // Long polls get their own client, with room for the poll itself; nothing else waits behind them.
    const pollSeconds = tg.poll_timeout_seconds + Duration.toSeconds(timings.pollMargin)
    const pollApi = new Api(token, { apiRoot, timeoutSeconds: pollSeconds + requestSeconds })

    const call = <A>(method: string, run: (signal: GrammySignal) => Promise<A>): Effect.Effect<A, TelegramError> =>
      Effect.tryPromise({
        try: (signal) => run(signal as unknown as GrammySignal),
        catch: (e) => toTelegramError(method, e, scrub)
      }).pipe(
        Effect.tapError((e) =>
          Metric.increment(Metric.taggedWithLabels(Metrics.telegramApiErrors, [
            MetricLabel.make("method", method),
            MetricLabel.make("code", String(e.code ?? e.kind))
          ]))
        ),
        Effect.withSpan(`TelegramApi.${method}`, { kind: "client" })
      )

    const getMe: Effect.Effect<UserFromGetMe, TelegramError> = call("getMe", (signal) => api.getMe(signal))

    /** One long poll; gives up `pollMargin` after the server should have answered. */
    const getUpdates = (
      offset: number | undefined,
      allowedUpdates: ReadonlyArray<string>
    ): Effect.Effect<ReadonlyArray<Update>, TelegramError> =>
      call("getUpdates", (signal) =>
        pollApi.getUpdates({
          ...(offset === undefined ? {} : { offset }),
          timeout: tg.poll_timeout_seconds,
          allowed_updates: allowedUpdates as Array<Exclude<keyof Update, "update_id">>
        }, signal)).pipe(
          Effect.timeoutFail({
            duration: Duration.seconds(pollSeconds),
            onTimeout: () =>
              new TelegramError({
                method: "getUpdates",
                kind: "timeout",
                description: `no answer within ${pollSeconds} s`
              })
          })
        )

    /** Telegram held this chat back: it waits `retry_after` (the throttle holds its next sends too). */
    const onRateLimited = (chatId: number, error: TelegramError) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const retryAfter = error.retryAfter ?? 1
        throttle.penalize(chatId, retryAfter, now)
        return Effect.logWarning(
          `Telegram flood limit on ${error.method}: waiting ${retryAfter} s before sending again`
        )
          .pipe(
            Effect.zipRight(Metric.increment(Metrics.telegramRateLimited)),
            Effect.annotateLogs({ component: "telegram", chat_id: String(chatId) })
          )
      })

    const sendMessage = (
      chatId: number,
      text: string,
      options: SendMessageOptions = {}
    ): Effect.Effect<Message.TextMessage, TelegramError> =>
      // Waiting for a turn can be interrupted (by shutdown); a request sent is not cut short, so
      // a message Telegram took is never sent again because of an interruption.
      Effect.interruptible(takeTurn(chatId, options.priority ?? "user")).pipe(
        Effect.zipRight(Effect.uninterruptible(sendOnce(chatId, text, options))),
        Effect.tapError((error) => error.code === 429 ? onRateLimited(chatId, error) : Effect.void),
        Effect.retry(rateLimitRetry(timings))
      )

    const sendOnce = (chatId: number, text: string, options: SendMessageOptions) =>
      call("sendMessage", (signal) =>
        api.sendMessage(chatId, text, {
          ...(options.parseMode === undefined ? {} : { parse_mode: options.parseMode }),
          ...(options.threadId === undefined ? {} : { message_thread_id: options.threadId }),
          ...(options.replyTo === undefined
            ? {}
            : {
              reply_parameters: {
                message_id: options.replyTo,
                allow_sending_without_reply: true
              } satisfies ReplyParameters
            })
        }, signal))

    /**
     * A preview call (a draft, a placeholder, its edits): made only when the throttle has a token
     * to spare for it, never waiting and never retried; `None` when it was skipped.
     */
    const preview = <A>(chatId: number, request: Effect.Effect<A, TelegramError>) =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now): Effect.Effect<Option.Option<A>, TelegramError> =>
          throttle.tryTakeSpare(chatId, now)
            ? request.pipe(
              Effect.tapError((error) => error.code === 429 ? onRateLimited(chatId, error) : Effect.void),
              Effect.map(Option.some)
            )
            : Effect.succeed(Option.none())
      )

    /** Streams a partial reply into a private chat (Bot API 9.5+); the draft is ephemeral. */
    const sendDraft = (chatId: number, draftId: number, text: string, options: SendMessageOptions = {}) =>
      preview(
        chatId,
        call("sendMessageDraft", (signal) =>
          api.sendMessageDraft(chatId, draftId, text, {
            ...(options.parseMode === undefined ? {} : { parse_mode: options.parseMode }),
            ...(options.threadId === undefined ? {} : { message_thread_id: options.threadId })
          }, signal))
      )

    /** The placeholder message a preview edits in place (groups, forum topics, servers without drafts). */
    const sendPlaceholder = (chatId: number, text: string, options: SendMessageOptions = {}) =>
      preview(chatId, sendOnce(chatId, text, options))

    const editOnce = (chatId: number, messageId: number, text: string, options: SendMessageOptions) =>
      call("editMessageText", (signal) =>
        api.editMessageText(
          chatId,
          messageId,
          text,
          options.parseMode === undefined ? {} : { parse_mode: options.parseMode },
          signal
        ))

    /** An edit of a preview's placeholder, as a preview (skipped rather than waiting). */
    const editPreview = (chatId: number, messageId: number, text: string, options: SendMessageOptions = {}) =>
      preview(chatId, editOnce(chatId, messageId, text, options))

    /** An edit that is a reply (the final text in a placeholder's place): it waits its turn like `sendMessage`. */
    const editMessageText = (chatId: number, messageId: number, text: string, options: SendMessageOptions = {}) =>
      Effect.interruptible(takeTurn(chatId, options.priority ?? "user")).pipe(
        Effect.zipRight(Effect.uninterruptible(editOnce(chatId, messageId, text, options))),
        Effect.tapError((error) => error.code === 429 ? onRateLimited(chatId, error) : Effect.void),
        Effect.retry(rateLimitRetry(timings))
      )

    /** Deleting is free of flood limits in Telegram's account; used for a placeholder no reply replaced. */
    const deleteMessage = (chatId: number, messageId: number) =>
      call("deleteMessage", (signal) => api.deleteMessage(chatId, messageId, signal))

    const sendTyping = (chatId: number, threadId: number | undefined) =>
      call(
        "sendChatAction",
        (signal) =>
          api.sendChatAction(chatId, "typing", threadId === undefined ? {} : { message_thread_id: threadId }, signal)
      ).pipe(
        Effect.timeoutFail({
          duration: timings.requestTimeout,
          onTimeout: () => new TelegramError({ method: "sendChatAction", kind: "timeout", description: "no answer" })
        })
      )

    const setMyCommands = (commands: ReadonlyArray<BotCommand>) =>
      call("setMyCommands", (signal) => api.setMyCommands(commands, {}, signal))

    /** Stops webhook delivery so getUpdates works; pending updates are kept (never dropped). */
    const deleteWebhook = call("deleteWebhook", (signal) => api.deleteWebhook({ drop_pending_updates: false }, signal))

    const setWebhook = (url: string, secretToken: string, allowedUpdates: ReadonlyArray<string>) =>
      call("setWebhook", (signal) =>
        api.setWebhook(url, {
          secret_token: secretToken,
          allowed_updates: allowedUpdates as Array<Exclude<keyof Update, "update_id">>
        }, signal))

    /** Where a file is (`file_path`), for `download`; 400 "file is too big" past the 20 MB limit. */
    const getFile = (fileId: string) => call("getFile", (signal) => api.getFile(fileId, signal))

    /**
     * The bytes at `<api_root>/file/bot<token>/<path>`, at most `maxBytes` (more is an error, and
     * the rest is not read). The URL carries the token: no error or log line ever shows it.
     */
    const download = (path: string, maxBytes: number): Effect.Effect<Uint8Array, TelegramError> =>
      Effect.tryPromise({
        try: async (signal) => {
          const response = await fetch(`${apiRoot}/file/bot${token}/${path}`, { signal })
          if (!response.ok || response.body === null) {
            await response.body?.cancel()
            throw new TelegramError({
              method: "download",
              kind: "api",
              code: response.status,
              description: response.statusText || `HTTP ${response.status}`
            })
          }
          const chunks: Array<Uint8Array> = []
          let size = 0
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
            size += chunk.byteLength
            if (size > maxBytes) {
              throw new TelegramError({
                method: "download",
                kind: "api",
                code: 413,
                description: "over the size limit"
              })
            }
            chunks.push(chunk)
          }
          return Buffer.concat(chunks)
        },
        catch: (e) =>
          e instanceof TelegramError ? e : new TelegramError({
            method: "download",
            kind: "network",
            description: scrub(e instanceof Error ? e.message : String(e))
          })
      }).pipe(Effect.withSpan("TelegramApi.download"))

    return {
      getMe,
      getUpdates,
      sendMessage,
      sendDraft,
      sendPlaceholder,
      editPreview,
      editMessageText,
      deleteMessage,
      sendTyping,
      setMyCommands,
      deleteWebhook,
      setWebhook,
      getFile,
      download,
      scrub
    } as const
  })
}) {}
