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
import { Clock, Duration, Effect, Option } from "effect"
import { TelegramSettings } from "../../config/Config.ts"
import { Readiness } from "../../control/Readiness.ts"
import { singleton } from "../../runtime/Singletons.ts"
import { ChannelGate } from "../ChannelGate.ts"
import { ChannelHealth } from "../ChannelHealth.ts"
import { isUnauthorized, TelegramApi } from "./TelegramApi.ts"
import { BotTokenRejected, TelegramBot, tokenRejectedMessage, untilAccepted } from "./TelegramBot.ts"
import { TelegramIntake } from "./TelegramIntake.ts"
import { pollerRestart, pollRetry, stallWatch, storageRetry } from "./TelegramSchedules.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { TelegramTimings } from "./TelegramTimings.ts"
import { allowedUpdates } from "./TelegramUpdate.ts"

/** Between two empty answers when `poll_timeout_seconds = 0`. */
const shortPollPause = Duration.seconds(1)

const run = Effect.gen(function*() {
  const api = yield* TelegramApi
  const intake = yield* TelegramIntake
  const store = yield* TelegramStore
  const telegramBot = yield* TelegramBot
  const readiness = yield* Readiness
  const timings = yield* TelegramTimings
  const gate = yield* ChannelGate
  const health = yield* ChannelHealth

  const shortPolling = (yield* TelegramSettings).poll_timeout_seconds === 0
  const bot = yield* telegramBot.identity
  let progressAt = yield* Clock.currentTimeMillis
  const progress = Effect.map(Clock.currentTimeMillis, (now) => void (progressAt = now))

  /** A storage step, retried until it works (`storageRetry` never gives up, so no error is left). */
  const persist = <A, E extends { readonly message: string }>(what: string, effect: Effect.Effect<A, E>) =>
    effect.pipe(Effect.retry(storageRetry(timings, what)), Effect.orDie)

  const poll = Effect.gen(function*() {
    yield* untilAccepted("deleteWebhook", api.deleteWebhook)
    let offset = Option.getOrUndefined(yield* persist("loading the polling offset", store.loadOffset(bot.id)))
    yield* readiness.ready("telegram")
    yield* Effect.logInfo(`long polling started${offset === undefined ? "" : ` (resuming at update ${offset})`}`)

    // Any answer, an error included, is progress for the watchdog; the status hears of each.
    const fetchUpdates = Effect.suspend(() => api.getUpdates(offset, allowedUpdates)).pipe(
      Effect.tapBoth({
        onSuccess: () => health.answered("telegram"),
        onFailure: (error) => health.failed("telegram", error.message, error.retryAfter)
      }),
      Effect.ensuring(progress),
      Effect.retry(pollRetry(timings)),
      Effect.catchIf(isUnauthorized, (error) => Effect.fail(new BotTokenRejected({ method: error.method })))
    )

    const cycle = Effect.gen(function*() {
      const updates = yield* fetchUpdates
      // poll_timeout_seconds = 0 is short polling: do not hammer Telegram while nothing comes.
      if (updates.length === 0 && shortPolling) yield* Effect.sleep(shortPollPause)
      yield* Effect.forEach(updates, (update) =>
        Effect.gen(function*() {
          yield* persist(`storing update ${update.update_id}`, intake.handle(update, bot))
          offset = update.update_id + 1
          yield* persist("storing the polling offset", store.saveOffset(bot.id, offset))
          yield* progress
        }), { discard: true })
    })

    // Paused: the poll in flight is abandoned (what it would have fetched stays with Telegram), and
    // an update being stored may be cut short, as by a kill: its offset is not confirmed, so it
    // comes again after the resume and its mailbox ignores it. Raced once per pause, not per poll.
    const whileRunning = Effect.gen(function*() {
      if (gate.isPaused("telegram")) {
        yield* Effect.logInfo("long polling paused: Telegram keeps the updates until resume")
      }
      yield* gate.whenRunning("telegram")
      yield* Effect.raceFirst(Effect.forever(cycle), gate.whenPaused("telegram"))
    })
    return yield* Effect.forever(whileRunning)
  })

  // A paused channel makes no progress on purpose; the time it resumes counts as progress.
  const stalled = Effect.map(Clock.currentTimeMillis, (now) => {
    if (gate.isPaused("telegram")) progressAt = now
    return now - progressAt > Duration.toMillis(timings.stallLimit)
  })
  const watchdog = Effect.repeat(stalled, stallWatch(timings))

  /** One run of polling, until it stalls (then it is started again) or Telegram refuses it. */
  const untilStalled = progress.pipe(
    Effect.zipRight(Effect.raceFirst(poll, watchdog)),
    Effect.zipRight(Effect.logWarning(
      `getUpdates made no progress for ${Duration.format(timings.stallLimit)}: restarting polling`
    ))
  )

  yield* Effect.forever(untilStalled).pipe(
    Effect.catchAll((error) => {
      const reason = error._tag === "BotTokenRejected"
        ? tokenRejectedMessage(error.method)
        : `Telegram refused ${error.method}: ${error.description}; polling is stopped`
      return readiness.notReady("telegram").pipe(
        Effect.zipRight(health.failed("telegram", reason)),
        Effect.zipRight(Effect.logError(reason))
      )
    })
  )
})

/** Runs `polling` until it ends; a failure or a defect (a bug) restarts it with `pollerRestart`. */
export const supervise = <A, E, R>(polling: Effect.Effect<A, E, R>) =>
  Effect.flatMap(TelegramTimings, (timings) =>
    polling.pipe(
      Effect.sandbox,
      Effect.retry(pollerRestart(timings)),
      Effect.unsandbox
    ))

/** Polls until the token is rejected; a bug restarts it rather than silencing the bot. */
const supervised = supervise(run).pipe(Effect.annotateLogs("component", "telegram"))

/** The poller layer; runs on exactly one runner of the cluster. */
export const layer = singleton("telegram-poller", supervised)
