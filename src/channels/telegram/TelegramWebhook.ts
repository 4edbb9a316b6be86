/**
 * Webhook mode: Telegram POSTs each update to `webhook_url`; a reverse proxy maps that public
 * HTTPS URL to the same path on the daemon's `[http]` server.
 *
 * The endpoint answers 401 without the right `X-Telegram-Bot-Api-Secret-Token`, and 200 only once
 * the update is stored (Telegram retries anything else, so nothing is lost). A redelivered update
 * is stored once: the mailbox is keyed by `update_id`.
 *
 * Anyone can reach the endpoint: a body over `webhookMaxBodyBytes` is refused (413) before it is
 * read or parsed, and rejected requests are logged through `SummarisedLog` (one line per kind of
 * rejection and a count), not one line each.
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Duration, Effect, Layer, LogLevel, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { type TelegramConfig, TelegramSettings } from "../../config/Config.ts"
import { ControlRoutes } from "../../control/ControlServer.ts"
import { Readiness } from "../../control/Readiness.ts"
import { ChannelGate } from "../ChannelGate.ts"
import { ChannelHealth } from "../ChannelHealth.ts"
import { SummarisedLog } from "./SummarisedLog.ts"
import { TelegramApi } from "./TelegramApi.ts"
import { TelegramBot, tokenRejectedMessage, untilAccepted } from "./TelegramBot.ts"
import { TelegramIntake } from "./TelegramIntake.ts"
import { TelegramTimings } from "./TelegramTimings.ts"
import { allowedUpdates } from "./TelegramUpdate.ts"

/** How long a webhook request waits for start-up (getMe) before Telegram is told to come back. */
const identityWait = Duration.seconds(10)

/**
 * `webhook_secret`, or one derived from the bot token when it is not set: stable across restarts,
 * unguessable without the token, and made of the characters Telegram allows.
 */
export const webhookSecret = (tg: TelegramConfig): string =>
  tg.webhook_secret !== undefined
    ? Redacted.value(tg.webhook_secret)
    : createHash("sha256").update(`minibot-webhook:${tg.bot_token === undefined ? "" : Redacted.value(tg.bot_token)}`)
      .digest("base64url")

/** The path the daemon serves: the path of `webhook_url`. */
export const webhookPath = (tg: TelegramConfig): `/${string}` =>
  new URL(tg.webhook_url ?? "http://localhost/telegram").pathname as `/${string}`

const sameSecret = (given: string | undefined, expected: string) => {
  if (given === undefined) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const parseJson = (text: string): { readonly value: unknown } | undefined => {
  try {
    return { value: JSON.parse(text) }
  } catch {
    return undefined
  }
}

const Route = ControlRoutes.use((router) =>
  Effect.gen(function*() {
    const intake = yield* TelegramIntake
    const telegramBot = yield* TelegramBot
    const summary = yield* SummarisedLog
    const timings = yield* TelegramTimings
    const tg = yield* TelegramSettings
    const gate = yield* ChannelGate
    const health = yield* ChannelHealth
    const secret = webhookSecret(tg)
    const maxBody = timings.webhookMaxBodyBytes

    const rejected = (request: HttpServerRequest.HttpServerRequest, why: string) =>
      summary.note(
        LogLevel.Warning,
        `webhook requests rejected: ${why}`,
        `from ${Option.getOrElse(request.remoteAddress, () => "?")}`
      )

    const tooLarge = HttpServerResponse.text("payload too large\n", { status: 413 })

    const handler = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!sameSecret(request.headers["x-telegram-bot-api-secret-token"], secret)) {
        yield* rejected(request, "without the right secret token")
        return HttpServerResponse.text("unauthorized\n", { status: 401 })
      }
      const declared = Number(request.headers["content-length"] ?? 0)
      if (declared > maxBody) {
        yield* rejected(request, `body over ${maxBody} bytes`)
        return tooLarge
      }
      // Paused (`/api/channels/telegram/pause`): Telegram keeps the update and sends it again later.
      if (gate.isPaused("telegram")) return HttpServerResponse.text("paused\n", { status: 503 })
      const bot = yield* Effect.timeoutOption(telegramBot.identity, identityWait)
      if (Option.isNone(bot)) return HttpServerResponse.text("starting\n", { status: 503 })
      // The declared length may lie (or be absent, chunked): reading stops at the limit as well.
      const text = yield* Effect.either(HttpIncomingMessage.withMaxBodySize(request.text, Option.some(maxBody)))
      if (text._tag === "Left") {
        yield* rejected(request, `body over ${maxBody} bytes, or unreadable`)
        return tooLarge
      }
      const body = parseJson(text.right)
      if (body === undefined) {
        yield* rejected(request, "body not JSON")
        return HttpServerResponse.text("bad request\n", { status: 400 })
      }
      const handled = yield* Effect.either(intake.handle(body.value, bot.value))
      if (handled._tag === "Left") {
        yield* Effect.logError("a webhook update could not be stored: Telegram will send it again", handled.left.cause)
        return HttpServerResponse.text("try again\n", { status: 500 })
      }
      yield* health.received("telegram")
      return HttpServerResponse.empty({ status: 200 })
    }).pipe(Effect.annotateLogs("component", "telegram"))

    yield* router.post(webhookPath(tg), handler)
  })
)

/** Registers the webhook with Telegram once the bot is known. */
const Setup = Layer.scopedDiscard(
  Effect.gen(function*() {
    const api = yield* TelegramApi
    const telegramBot = yield* TelegramBot
    const readiness = yield* Readiness
    const tg = yield* TelegramSettings
    const health = yield* ChannelHealth
    const url = tg.webhook_url ?? ""
    yield* Effect.gen(function*() {
      yield* telegramBot.identity
      yield* untilAccepted("setWebhook", api.setWebhook(url, webhookSecret(tg), allowedUpdates))
      yield* health.recovered("telegram")
      yield* readiness.ready("telegram")
      yield* Effect.logInfo(`webhook set: Telegram posts updates to ${url}, served at ${webhookPath(tg)}`)
    }).pipe(
      Effect.catchTags({
        BotTokenRejected: (e) =>
          Effect.logError(tokenRejectedMessage(e.method)).pipe(
            Effect.zipRight(health.failed("telegram", tokenRejectedMessage(e.method))),
            Effect.zipRight(readiness.notReady("telegram"))
          ),
        TelegramError: (e) => {
          const reason = `Telegram refused the webhook (${e.description}): check [channels.telegram] webhook_url`
          return Effect.zipRight(Effect.logError(reason), health.failed("telegram", reason))
        }
      }),
      Effect.annotateLogs("component", "telegram"),
      Effect.forkScoped
    )
  })
)

export const layer = Layer.merge(Route, Setup).pipe(Layer.provide(SummarisedLog.Default))
