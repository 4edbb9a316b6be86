/**
 * Every delay and limit of the Telegram channel, in one place. Production uses the defaults;
 * tests provide shorter ones (a stall detector that waits 90 s makes a slow test).
 */
import { Context, Duration } from "effect"

export interface TelegramTimingsShape {
  /** A long poll may take `poll_timeout_seconds`; the client gives up this much later. */
  readonly pollMargin: Duration.Duration
  /** No getUpdates answer and no update handled for this long: polling restarts. */
  readonly stallLimit: Duration.Duration
  /** How often the stall detector looks. */
  readonly stallCheck: Duration.Duration
  /** Backoff of polling, start-up calls and storage retries: from `retryBase`, doubling up to `retryCap`. */
  readonly retryBase: Duration.Duration
  readonly retryCap: Duration.Duration
  /** Retries of one message after a network error or a 5xx (each may duplicate it: keep it small). */
  readonly sendRetries: number
  readonly sendRetryBase: Duration.Duration
  /** A 429 asking to wait longer than this fails the delivery instead of blocking the chat. */
  readonly maxRateLimitWait: Duration.Duration
  /** 429 retries of one call before it fails. */
  readonly maxRateLimitRetries: number
  /** Any one HTTP request to the Bot API (getUpdates gets its poll time on top). */
  readonly requestTimeout: Duration.Duration
  /** A stranger gets at most one refusal per chat per this. */
  readonly refusalInterval: Duration.Duration
  /**
   * Refusals and pairing codes to strangers, over all chats: at most `strangerReplyBurst` at once,
   * then one per `strangerReplyInterval`. Past that, strangers are ignored (and counted).
   */
  readonly strangerReplyBurst: number
  readonly strangerReplyInterval: Duration.Duration
  /** How long a pairing code stays valid. */
  readonly pairingCodeLifetime: Duration.Duration
  /** A stranger gets at most one pairing code per this (an expired or replaced one included). */
  readonly pairingRequestInterval: Duration.Duration
  /** Repeated log lines a stranger can cause are counted and summarised once per this. */
  readonly logSummaryInterval: Duration.Duration
  /** A webhook request body larger than this is refused (413) before it is read. */
  readonly webhookMaxBodyBytes: number
  /** Records of updates handled outside the mailbox are kept this long (Telegram keeps updates 24 h). */
  readonly handledRetention: Duration.Duration
}

export const defaultTelegramTimings: TelegramTimingsShape = {
  pollMargin: Duration.seconds(10),
  stallLimit: Duration.seconds(90),
  stallCheck: Duration.seconds(5),
  retryBase: Duration.seconds(1),
  retryCap: Duration.seconds(30),
  sendRetries: 2,
  sendRetryBase: Duration.seconds(1),
  maxRateLimitWait: Duration.minutes(5),
  maxRateLimitRetries: 5,
  requestTimeout: Duration.seconds(60),
  refusalInterval: Duration.hours(1),
  strangerReplyBurst: 10,
  strangerReplyInterval: Duration.seconds(6),
  pairingCodeLifetime: Duration.hours(1),
  pairingRequestInterval: Duration.hours(1),
  logSummaryInterval: Duration.minutes(1),
  webhookMaxBodyBytes: 1024 * 1024,
  handledRetention: Duration.hours(48)
}

export class TelegramTimings extends Context.Reference<TelegramTimings>()("minibot/TelegramTimings", {
  defaultValue: () => defaultTelegramTimings
}) {}
