/**
 * Outgoing webhooks: each bus event of a kind a `[[webhooks]]` entry lists is POSTed to it as
 * JSON, signed (`WebhookSignature.ts`), at least once.
 *
 * - Durable: the bus's shared consumer `webhooks` writes the event to the outbox
 *   (`WebhookOutbox.ts`) before it is acknowledged, one row per webhook; only then is it sent.
 *   With several runners on NATS each event is written by one runner only (`Bus.consume`), and
 *   each attempt is made by the runner that claimed the row; a restart finds every row not yet
 *   delivered and sends it.
 * - Retried with `deliveryRetry` (exponential, jittered, capped; a 429 or 503's `Retry-After`
 *   is honoured) after a 5xx, 408, 429, a timeout or a connection error. Any other answer that
 *   is not 2xx (a 4xx, a redirect) and a refused address fail for good at once. Every outcome is
 *   on the row, for `GET /api/webhooks`.
 * - The target goes through the `http_request` tool's safe fetch: no loopback, private or
 *   link-local address unless the webhook's `allow_private_networks`, cloud metadata never.
 * - Receivers dedupe on `X-Minibot-Event-Id`; the order of deliveries is not guaranteed.
 */
import { Cause, Clock, Duration, Effect, Layer, Metric, Option, Queue, Redacted, Schedule } from "effect"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import { Bus, type BusEvent } from "../bus/Bus.ts"
import { kindOf } from "../control/api/EventStream.ts"
import { version } from "../observability/Build.ts"
import * as Metrics from "../observability/Metrics.ts"
import * as SafeFetch from "../tools/net/SafeFetch.ts"
import { type AttemptResult, type OutboxRow, WebhookOutbox } from "./WebhookOutbox.ts"
import { wants, type WebhookConfig, WebhooksSettings } from "./WebhooksConfig.ts"
import { eventIdHeader, eventKindHeader, sign, signatureHeader, timestampHeader } from "./WebhookSignature.ts"

/** The bus consumer every runner shares: each event is written to the outbox once. */
export const consumerName = "webhooks"

/**
 * The wait after each failed attempt: 1 s, 2 s, 4 s... (jittered) up to 10 minutes, then every
 * 10 minutes; after 20 retries (about two hours) the delivery fails for good.
 */
export const deliveryRetry = Schedule.exponential(Duration.seconds(1), 2).pipe(
  Schedule.jittered,
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.minutes(10))),
  Schedule.intersect(Schedule.recurs(20))
)

/** The longest `Retry-After` honoured (a longer one waits this long). */
const maxRetryAfter = Duration.hours(1)
/** Rows taken (and sent at once) per round. */
const batchSize = 16
/** How long an idle sender waits before it looks for due rows written by another runner. */
const idlePoll = Duration.seconds(5)
/** A claimed row stays with its runner this much longer than the attempt's timeout. */
const leaseMargin = Duration.seconds(30)
/** Rows are pruned this often. */
const pruneEvery = Schedule.spaced(Duration.minutes(1))
/** A failed round of the sender (the database unreachable) is tried again after this. */
const roundRetry = Schedule.exponential(Duration.seconds(1)).pipe(
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30)))
)
/** Bytes of a receiver's answer read (enough for an error message). */
const maxAnswerBytes = 16 * 1024
/** Characters of a receiver's answer kept in `last_error`. */
const maxErrorChars = 300

/** The wait before the next attempt after `attempts` failed ones; none once `deliveryRetry` gives up. */
export const retryDelay = (attempts: number): Effect.Effect<Option.Option<Duration.Duration>> =>
  Effect.gen(function*() {
    const policy = Schedule.delays(deliveryRetry)
    let state = policy.initial
    let now = 0
    let delay = Option.none<Duration.Duration>()
    for (let i = 0; i < attempts; i++) {
      const [next, out, decision] = yield* policy.step(now, undefined, state)
      if (ScheduleDecision.isDone(decision)) return Option.none()
      state = next
      delay = Option.some(out)
      now = ScheduleIntervals.start(decision.intervals)
    }
    return delay
  })

/** The JSON body of an event: the fields of `GET /api/events` data, with the bus event's id. */
export const payloadOf = (id: string, kind: string, at: number, event: BusEvent): Record<string, unknown> => {
  const { _tag, ...fields } = event
  const { conversation, ...rest } = fields as Record<string, unknown>
  return { id, kind, at, ...(conversation === undefined ? {} : { conversationId: conversation }), ...rest }
}

type Outcome =
  | { readonly _tag: "Delivered"; readonly result: AttemptResult }
  | { readonly _tag: "Retry"; readonly result: AttemptResult; readonly retryAfter: Option.Option<Duration.Duration> }
  | { readonly _tag: "Failed"; readonly result: AttemptResult }

const retryable = new Set<SafeFetch.FetchFailure>(["dns", "network", "timeout"])

/** A `Retry-After` in seconds or as an HTTP date, bounded by `maxRetryAfter`. */
const parseRetryAfter = (value: string | undefined, now: number): Option.Option<Duration.Duration> => {
  if (value === undefined) return Option.none()
  const seconds = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now
  return Number.isFinite(seconds) && seconds > 0
    ? Option.some(Duration.min(Duration.millis(seconds), maxRetryAfter))
    : Option.none()
}

/** The start of an answer's body, as one line of printable text. */
const answerText = (body: Uint8Array) =>
  new TextDecoder().decode(body).replace(/[\u0000-\u001f\u007f]+/g, " ").trim().slice(0, maxErrorChars)

const classify = (response: SafeFetch.SafeResponse, now: number): Outcome => {
  const status = response.status
  if (status >= 200 && status < 300) return { _tag: "Delivered", result: { status, error: null } }
  const text = answerText(response.body)
  const error = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ""}${text ? `: ${text}` : ""}`
  if (status >= 500 || status === 408 || status === 429) {
    return {
      _tag: "Retry",
      result: { status, error },
      retryAfter: status === 429 || status === 503
        ? parseRetryAfter(response.headers["retry-after"], now)
        : Option.none()
    }
  }
  return {
    _tag: "Failed",
    result: { status, error: status >= 300 && status < 400 ? `${error} (redirects are not followed)` : error }
  }
}

const classifyError = (error: SafeFetch.FetchError): Outcome => {
  const message = error.reason === "too_many_redirects"
    ? "redirected (redirects are not followed)"
    : error.reason === "blocked" && !error.message.includes("metadata")
    ? `${error.message}; allow_private_networks = true on this webhook allows it`
    : error.message
  return retryable.has(error.reason)
    ? { _tag: "Retry", result: { status: null, error: message }, retryAfter: Option.none() }
    : { _tag: "Failed", result: { status: null, error: message } }
}

/** What logs may say about a target: its host, never its path or query (they may hold a token). */
const hostOf = (url: string) => (URL.canParse(url) ? new URL(url).host : "?")

interface Target {
  readonly webhook: WebhookConfig
  readonly client: ReturnType<typeof SafeFetch.make>
}

const make = Effect.gen(function*() {
  const webhooks = yield* WebhooksSettings
  const bus = yield* Bus
  const outbox = yield* WebhookOutbox
  const wake = yield* Queue.sliding<void>(1)

  const targets = new Map<string, Target>(webhooks.map((webhook) => [webhook.url, {
    webhook,
    client: SafeFetch.make({
      allowPrivateNetworks: webhook.allow_private_networks,
      timeout: Duration.seconds(webhook.timeout_seconds),
      maxBytes: maxAnswerBytes,
      maxRedirects: 0,
      userAgent: `minibot/${version} (webhooks)`
    })
  }]))
  const lease = Duration.sum(
    Duration.seconds(Math.max(...webhooks.map((w) => w.timeout_seconds))),
    leaseMargin
  )

  /** Writes a bus event to the outbox for every webhook that wants its kind. */
  const record = (event: BusEvent, id: string) =>
    Effect.gen(function*() {
      const kind = kindOf(event)
      const wanted = webhooks.filter((webhook) => wants(webhook, kind))
      if (wanted.length === 0) return
      const now = yield* Clock.currentTimeMillis
      const body = JSON.stringify(payloadOf(id, kind, now, event))
      yield* outbox.enqueue(wanted.map((webhook) => ({ eventId: id, url: webhook.url, kind, body })), now)
      yield* Queue.offer(wake, undefined)
    })

  const attempt = (target: Target, row: OutboxRow) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const timestamp = Math.floor(now / 1000)
      const sent = yield* target.client.fetch({
        method: "POST",
        url: row.url,
        headers: {
          "content-type": "application/json",
          [eventIdHeader]: row.event_id,
          [eventKindHeader]: row.kind,
          [timestampHeader]: String(timestamp),
          [signatureHeader]: sign(Redacted.value(target.webhook.secret), timestamp, row.body)
        },
        body: row.body
      }).pipe(Effect.either)
      return sent._tag === "Right" ? classify(sent.right, now) : classifyError(sent.left)
    })

  /** One attempt of a claimed row, and its outcome recorded. */
  const deliver = (row: OutboxRow) =>
    Effect.gen(function*() {
      const target = targets.get(row.url)
      const outcome: Outcome = target === undefined
        ? { _tag: "Failed", result: { status: null, error: "no [[webhooks]] entry has this URL any more" } }
        : yield* attempt(target, row).pipe(
          Effect.onInterrupt(() =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => outbox.release(row, now)).pipe(Effect.ignore)
          )
        )
      const now = yield* Clock.currentTimeMillis
      switch (outcome._tag) {
        case "Delivered":
          yield* outbox.delivered(row, outcome.result, now)
          yield* Metric.increment(Metrics.webhooksDelivered)
          return
        case "Failed":
          yield* outbox.failed(row, outcome.result, now)
          yield* Metric.increment(Metrics.webhooksFailed)
          return yield* Effect.logWarning(`webhook delivery failed for good: ${outcome.result.error}`)
        case "Retry": {
          const delay = yield* retryDelay(row.attempts)
          if (Option.isNone(delay)) {
            const error = `gave up after ${row.attempts} attempts; last: ${outcome.result.error}`
            yield* outbox.failed(row, { ...outcome.result, error }, now)
            yield* Metric.increment(Metrics.webhooksFailed)
            return yield* Effect.logWarning(`webhook delivery failed for good: ${error}`)
          }
          const wait = Option.match(outcome.retryAfter, {
            onNone: () => delay.value,
            onSome: (after) => Duration.max(after, delay.value)
          })
          // Whole milliseconds: the column is an integer (jitter makes fractions).
          yield* outbox.retryAt(row, outcome.result, now + Math.ceil(Duration.toMillis(wait)), now)
          yield* Metric.increment(Metrics.webhooksRetried)
          return yield* Effect.logInfo(
            `webhook delivery failed (${outcome.result.error}): retry in ${Duration.format(wait)}`
          )
        }
      }
    }).pipe(
      Effect.annotateLogs({
        component: "webhooks",
        event_id: row.event_id,
        webhook: hostOf(row.url),
        attempt: row.attempts
      })
    )

  /** Sends what is due; the number of rows taken. */
  const round = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const due = yield* outbox.claim(now, now + Duration.toMillis(lease), batchSize)
    yield* Effect.forEach(due, deliver, { concurrency: "unbounded", discard: true })
    return due.length
  })

  /** Until the next row is due, a new event is written, or `idlePoll` (rows of other runners, expired leases). */
  const pause = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const next = yield* outbox.nextDueAt
    const wait = next === undefined ? idlePoll : Duration.min(Duration.millis(Math.max(0, next - now)), idlePoll)
    if (Duration.toMillis(wait) > 0) yield* Queue.take(wake).pipe(Effect.timeoutOption(wait))
  })

  const sender = round.pipe(
    Effect.flatMap((taken) => (taken >= batchSize ? Effect.void : pause)),
    Effect.tapErrorCause((cause) => Effect.logWarning("webhook sender failed: retrying", cause)),
    Effect.retry(roundRetry),
    Effect.forever
  )

  yield* bus.consume(consumerName, record).pipe(Effect.forkScoped)
  yield* sender.pipe(Effect.annotateLogs("component", "webhooks"), Effect.forkScoped)
  yield* outbox.prune().pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logWarning("webhook outbox prune failed", cause)
    ),
    Effect.repeat(pruneEvery),
    Effect.forkScoped
  )
  yield* Effect.logInfo(`webhooks: ${webhooks.length} target(s)`).pipe(Effect.annotateLogs("component", "webhooks"))
})

/** The webhook sender, when `[[webhooks]]` lists any; needs the bus and the SqlClient. */
export const layer = Layer.unwrapEffect(
  Effect.map(WebhooksSettings, (webhooks) =>
    webhooks.length === 0
      ? Layer.empty
      : Layer.scopedDiscard(make).pipe(Layer.provide(WebhookOutbox.Default)))
)
