/**
 * Every metric the daemon exports, in one place so `/metrics` and the README agree.
 * Names carry the `minibot_` prefix; the Prometheus renderer adds nothing but units.
 */
import { Effect, Metric, MetricBoundaries } from "effect"
import { version } from "./Build.ts"

const secondsBuckets = MetricBoundaries.fromIterable([
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120
])

// Intake and delivery
export const messagesReceived = Metric.counter("minibot_messages_received_total", {
  description: "Inbound messages accepted by a channel and stored for their conversation",
  incremental: true
})
export const repliesSent = Metric.counter("minibot_replies_sent_total", {
  description: "Replies delivered to a channel",
  incremental: true
})
export const duplicatesIgnored = Metric.counter("minibot_duplicate_messages_total", {
  description: "Redelivered inbound messages recognised as already answered",
  incremental: true
})
export const turnFailures = Metric.counter("minibot_turn_failures_total", {
  description: "Turns that ended with an error message to the user",
  incremental: true
})
export const turnDuration = Metric.histogram(
  "minibot_turn_duration_seconds",
  secondsBuckets,
  "Time from a turn's start to its reply being delivered"
)

// LLM
export const llmRequests = Metric.counter("minibot_llm_requests_total", {
  description: "HTTP requests sent to the LLM (each retry counts)",
  incremental: true
})
export const llmFailures = Metric.counter("minibot_llm_failures_total", {
  description: "LLM calls that failed for good, by reason",
  incremental: true
})
export const llmLatency = Metric.histogram(
  "minibot_llm_latency_seconds",
  secondsBuckets,
  "Latency of one LLM HTTP request"
)

// Bus
export const busDepth = Metric.gauge("minibot_bus_depth", {
  description: "Events published on the bus and not yet taken by every subscriber"
})
export const busPublished = Metric.counter("minibot_bus_published_total", {
  description: "Events published on the bus",
  incremental: true
})
export const busDropped = Metric.counter("minibot_bus_dropped_total", {
  description: "Events dropped because a subscriber stayed full past the publish timeout",
  incremental: true
})
export const busLatency = Metric.histogram(
  "minibot_bus_latency_seconds",
  MetricBoundaries.exponential({ start: 0.0001, factor: 4, count: 10 }),
  "Time from publish to a subscriber taking the event"
)

// Telegram
export const telegramUpdates = Metric.counter("minibot_telegram_updates_total", {
  description: "Updates received from Telegram (polling or webhook), of any kind",
  incremental: true
})
export const telegramRefusals = Metric.counter("minibot_telegram_refusals_total", {
  description: "Messages from senders who are not allowed (each is answered at most once per chat per hour)",
  incremental: true
})
export const telegramApiErrors = Metric.counter("minibot_telegram_api_errors_total", {
  description: "Failed Bot API calls, by method and error code",
  incremental: true
})
export const telegramRateLimited = Metric.counter("minibot_telegram_rate_limited_total", {
  description: "429 answers from Telegram (the call waits retry_after, then is sent again)",
  incremental: true
})
export const telegramPlainFallbacks = Metric.counter("minibot_telegram_plain_fallbacks_total", {
  description: "Chunks resent as plain text after Telegram could not parse their HTML",
  incremental: true
})

// Scheduler
export const jobRuns = Metric.counter("minibot_job_runs_total", {
  description: "Scheduled job runs started (retries included)",
  incremental: true
})
export const jobFailures = Metric.counter("minibot_job_failures_total", {
  description: "Scheduled job runs that failed for good, after their retries",
  incremental: true
})
export const jobLateness = Metric.histogram(
  "minibot_job_lateness_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 4, count: 10 }),
  "How late a job run started after its due time"
)

// Webhooks
export const webhooksDelivered = Metric.counter("minibot_webhooks_delivered_total", {
  description: "Events delivered to a webhook (a 2xx answer)",
  incremental: true
})
export const webhooksFailed = Metric.counter("minibot_webhooks_failed_total", {
  description: "Webhook deliveries that failed for good (refused, a 4xx, or out of retries)",
  incremental: true
})
export const webhooksRetried = Metric.counter("minibot_webhooks_retried_total", {
  description: "Webhook attempts that failed and were scheduled again (5xx, 408, 429, timeout, connection error)",
  incremental: true
})

// Process
export const eventLoopLag = Metric.gauge("nodejs_eventloop_lag_seconds", {
  description: "Mean event-loop delay over the last sampling interval"
})
export const eventLoopLagMax = Metric.gauge("nodejs_eventloop_lag_max_seconds", {
  description: "Longest event-loop delay over the last sampling interval"
})
export const gcDuration = Metric.histogram(
  "nodejs_gc_duration_seconds",
  MetricBoundaries.fromIterable([0.001, 0.01, 0.1, 1, 2, 5]),
  "Garbage collection pauses, by kind"
)
export const buildInfo = Metric.gauge("minibot_build_info", {
  description: "Always 1; the labels say which build and Node.js run"
})

/**
 * Every metric above, created at zero: a counter shows 0 from the start, not only after its first
 * event, so a dashboard and an alert see it before anything has failed.
 */
export const registerAll: Effect.Effect<void> = Effect.gen(function*() {
  const all = [
    messagesReceived,
    repliesSent,
    duplicatesIgnored,
    turnFailures,
    turnDuration,
    llmRequests,
    llmFailures,
    llmLatency,
    busDepth,
    busPublished,
    busDropped,
    busLatency,
    telegramUpdates,
    telegramRefusals,
    telegramApiErrors,
    telegramRateLimited,
    telegramPlainFallbacks,
    jobRuns,
    jobFailures,
    jobLateness,
    webhooksDelivered,
    webhooksFailed,
    webhooksRetried,
    eventLoopLag,
    eventLoopLagMax
  ] as const
  for (const metric of all) yield* Metric.value(metric as Metric.Metric<unknown, unknown, unknown>)
  yield* Metric.set(Metric.tagged(Metric.tagged(buildInfo, "version", version), "node", process.version), 1)
})
