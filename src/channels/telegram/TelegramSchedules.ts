/**
 * Every retry and supervision policy of the Telegram channel, as named schedules built from
 * `TelegramTimings` (tests make them fast). Each one logs the retry it is about to wait for, with
 * the wait, so a stuck channel explains itself in the log.
 *
 * No jitter: one process talks to one bot, so there is no herd to spread out, and the waits stay
 * exactly the ones documented in `TelegramTimings`.
 */
import { type Cause, Duration, Effect, Schedule } from "effect"
import { isAmbiguous, isUnauthorized, type TelegramError } from "./TelegramApi.ts"
import type { TelegramTimingsShape } from "./TelegramTimings.ts"

/** `retryBase`, doubling, capped at `retryCap`: the wait before each retry of polling, start-up and storage. */
export const backoff = (timings: TelegramTimingsShape) =>
  Schedule.exponential(timings.retryBase).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, timings.retryCap))
  )

/** A 429's `retry_after` wins when it is longer than the backoff (sending inside the ban extends it). */
const atLeastRetryAfter = (error: TelegramError, delay: Duration.Duration) =>
  Duration.max(delay, Duration.seconds(error.retryAfter ?? 0))

/** Worth calling again: no answer, a 5xx, a 409 conflict or a 429. Any other 4xx stays as it is. */
export const isTransient = (error: TelegramError) =>
  !isUnauthorized(error) &&
  (error.code === undefined || error.code < 400 || error.code >= 500 || error.code === 409 || error.code === 429)

/**
 * A start-up call (getMe, deleteWebhook, setWebhook) until Telegram accepts it: transient errors
 * are retried with `backoff` for as long as it takes; a rejected token or another 4xx stops at once.
 */
export const untilAcceptedRetry = (timings: TelegramTimingsShape, what: string) =>
  Schedule.identity<TelegramError>().pipe(
    Schedule.whileInput(isTransient),
    Schedule.intersect(backoff(timings)),
    Schedule.modifyDelayEffect(([error], delay) => {
      const wait = atLeastRetryAfter(error, delay)
      return Effect.as(
        Effect.logWarning(`${what} failed: ${error.description}; retrying in ${Duration.format(wait)}`),
        wait
      )
    })
  )

/**
 * getUpdates after a failure: every error but a rejected token is retried with `backoff` (a
 * conflict is logged as such: another process polls this bot, or a webhook is set).
 */
export const pollRetry = (timings: TelegramTimingsShape) =>
  Schedule.identity<TelegramError>().pipe(
    Schedule.whileInput((error) => !isUnauthorized(error)),
    Schedule.intersect(backoff(timings)),
    Schedule.modifyDelayEffect(([error], delay) => {
      const wait = atLeastRetryAfter(error, delay)
      return Effect.as(
        Effect.logWarning(
          error.code === 409
            ? `getUpdates conflict: another process polls this bot, or a webhook is set (${error.description}); retrying in ${
              Duration.format(wait)
            }`
            : `getUpdates failed: ${error.description}; retrying in ${Duration.format(wait)}`
        ),
        wait
      )
    })
  )

/** A storage step of polling, retried until it works: an update is not confirmed before it is stored. */
export const storageRetry = (timings: TelegramTimingsShape, what: string) =>
  Schedule.identity<{ readonly message: string }>().pipe(
    Schedule.intersect(backoff(timings)),
    Schedule.modifyDelayEffect(([error], wait) =>
      Effect.as(
        Effect.logWarning(`${what} failed (${error.message}); retrying in ${Duration.format(wait)}`),
        wait
      )
    )
  )

/**
 * sendMessage when the outcome is unknown (no answer, a 5xx): at most `sendRetries` more times,
 * `sendRetryBase` doubling, since each retry may show the message twice. Any answer from Telegram
 * (a 4xx) is final.
 */
export const sendRetry = (timings: TelegramTimingsShape) =>
  Schedule.identity<TelegramError>().pipe(
    Schedule.whileInput(isAmbiguous),
    Schedule.intersect(Schedule.recurs(timings.sendRetries)),
    Schedule.intersect(Schedule.exponential(timings.sendRetryBase)),
    Schedule.modifyDelayEffect(([[error]], wait) =>
      Effect.as(
        Effect.logWarning(
          `sending a message got no clear answer (${error.description}); retrying in ${
            Duration.format(wait)
          }, it may show twice`
        ),
        wait
      )
    )
  )

/**
 * sendMessage after a 429: Telegram did not send it, so sending again is safe. No delay here: the
 * throttle holds the chat for `retry_after`. A wait over `maxRateLimitWait`, or more than
 * `maxRateLimitRetries` of them, fails the delivery instead of blocking the chat.
 */
export const rateLimitRetry = (timings: TelegramTimingsShape) =>
  Schedule.recurs(timings.maxRateLimitRetries).pipe(
    Schedule.whileInput((error: TelegramError) =>
      error.code === 429 && (error.retryAfter ?? 0) <= Duration.toSeconds(timings.maxRateLimitWait)
    )
  )

/** Polling that failed unexpectedly (a bug) is restarted every `retryCap` rather than silencing the bot. */
export const pollerRestart = (timings: TelegramTimingsShape) =>
  Schedule.spaced(timings.retryCap).pipe(
    Schedule.tapInput((cause: Cause.Cause<unknown>) =>
      Effect.logError("Telegram polling failed unexpectedly: restarting it", cause)
    )
  )

/** Looks every `stallCheck` whether polling stalled; stops once it has. */
export const stallWatch = (timings: TelegramTimingsShape) =>
  Schedule.spaced(timings.stallCheck).pipe(Schedule.whileInput((stalled: boolean) => !stalled))
