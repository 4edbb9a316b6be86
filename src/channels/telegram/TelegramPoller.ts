/**
 * Long polling, as a cluster `Singleton`: exactly one poller per bot even with several runners
 * (two would fight with 409 conflicts).
 *
 * Nothing is lost and nothing doubles: each update is handed to intake (stored in its
 * conversation's mailbox, keyed by `update_id`) and only then is the offset advanced and stored.
 * Telegram keeps unconfirmed updates for a day, so after a kill -9 at any point the next start
 * fetches again whatever was not stored, and the mailbox ignores what was.
 *
 * Failure handling: getUpdates gives up `pollMargin` after the poll should have ended (a
 * half-open connection never answers); 409 and network errors back off and retry; a 401 stops
 * polling with one clear log line; if nothing at all happens for `stallLimit` (90 s), polling is
 * restarted from the stored offset.
 */
import { Singleton } from "@effect/cluster"
import { Clock, Duration, Effect, Exit, Option } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { Readiness } from "../../control/Readiness.ts"
import { isUnauthorized, TelegramApi } from "./TelegramApi.ts"
import { BotTokenRejected, TelegramBot, tokenRejectedMessage, untilAccepted } from "./TelegramBot.ts"
import { allowedUpdates, TelegramIntake } from "./TelegramIntake.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { backoff, TelegramTimings } from "./TelegramTimings.ts"

/** Between two empty answers when `poll_timeout_seconds = 0`. */
const shortPollPause = Duration.seconds(1)

const run = Effect.gen(function*() {
  const api = yield* TelegramApi
  const intake = yield* TelegramIntake
  const store = yield* TelegramStore
  const telegramBot = yield* TelegramBot
  const readiness = yield* Readiness
  const timings = yield* TelegramTimings

  const { config } = yield* AppConfig
  const shortPolling = config.channels.telegram.poll_timeout_seconds === 0
  const bot = yield* telegramBot.identity
  let progressAt = yield* Clock.currentTimeMillis
  const progress = Effect.map(Clock.currentTimeMillis, (now) => void (progressAt = now))

  /** Retries a storage step until it works: an update is not confirmed to Telegram before it is stored. */
  const persist = <A, E extends { readonly message: string }>(what: string, effect: Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      for (let attempt = 0;; attempt++) {
        const result = yield* Effect.either(effect)
        if (result._tag === "Right") return result.right
        const wait = backoff(timings, attempt)
        yield* Effect.logWarning(`${what} failed (${result.left.message}); retrying in ${Duration.format(wait)}`)
        yield* Effect.sleep(wait)
      }
    })

  const poll = Effect.gen(function*() {
    yield* untilAccepted("deleteWebhook", api.deleteWebhook)
    let offset = Option.getOrUndefined(yield* persist("loading the polling offset", store.loadOffset(bot.id)))
    yield* readiness.ready("telegram")
    yield* Effect.logInfo(`long polling started${offset === undefined ? "" : ` (resuming at update ${offset})`}`)
    for (let failures = 0;;) {
      const result = yield* Effect.either(api.getUpdates(offset, allowedUpdates))
      yield* progress
      if (result._tag === "Left") {
        const error = result.left
        if (isUnauthorized(error)) return yield* new BotTokenRejected({ method: error.method })
        const wait = backoff(timings, failures++, error.retryAfter)
        yield* Effect.logWarning(
          error.code === 409
            ? `getUpdates conflict: another process polls this bot, or a webhook is set (${error.description}); retrying in ${
              Duration.format(wait)
            }`
            : `getUpdates failed: ${error.description}; retrying in ${Duration.format(wait)}`
        )
        yield* Effect.sleep(wait)
        continue
      }
      failures = 0
      // poll_timeout_seconds = 0 is short polling: do not hammer Telegram while nothing comes.
      if (result.right.length === 0 && shortPolling) yield* Effect.sleep(shortPollPause)
      for (const update of result.right) {
        yield* persist(`storing update ${update.update_id}`, intake.handle(update, bot))
        offset = update.update_id + 1
        yield* persist("storing the polling offset", store.saveOffset(bot.id, offset))
        yield* progress
      }
    }
  })

  const watchdog = Effect.gen(function*() {
    for (;;) {
      yield* Effect.sleep(timings.stallCheck)
      const now = yield* Clock.currentTimeMillis
      if (now - progressAt > Duration.toMillis(timings.stallLimit)) return "stalled" as const
    }
  })

  for (;;) {
    yield* progress
    const outcome = yield* Effect.raceFirst(poll, watchdog).pipe(Effect.either)
    if (outcome._tag === "Left") {
      yield* readiness.notReady("telegram")
      const error = outcome.left
      return yield* Effect.logError(
        error._tag === "BotTokenRejected"
          ? tokenRejectedMessage(error.method)
          : `Telegram refused ${error.method}: ${error.description}; polling is stopped`
      )
    }
    yield* Effect.logWarning(
      `getUpdates made no progress for ${Duration.format(timings.stallLimit)}: restarting polling`
    )
  }
})

/** Polls until the token is rejected; a bug restarts it rather than silencing the bot. */
const supervised = Effect.gen(function*() {
  const timings = yield* TelegramTimings
  for (;;) {
    const exit = yield* Effect.exit(run)
    if (Exit.isSuccess(exit)) return
    yield* Effect.logError("Telegram polling failed unexpectedly: restarting it", exit.cause)
    yield* Effect.sleep(timings.retryCap)
  }
}).pipe(Effect.annotateLogs("component", "telegram"))

/** The poller layer; runs on exactly one runner of the cluster. */
export const layer = Singleton.make("telegram-poller", supervised)
