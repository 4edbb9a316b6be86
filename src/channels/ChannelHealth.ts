/**
 * How each channel's intake fares while the daemon runs, for `GET /api/status` and the
 * dashboard: whether it is failing (its last getUpdates or webhook set-up failed, or the bot
 * token was refused), the last error, when Telegram last answered a getUpdates (or, in webhook
 * mode, last posted an update to this process), and the end of any 429 back-off Telegram asked for. `ChannelStatus` says whether a channel came up at all;
 * this says how it is doing since.
 *
 * Every change between failing and running is published as a `channel.state` event, so the
 * dashboard and webhook receivers hear of it without polling the status. Errors are kept with
 * the config's secrets masked: they go out in API answers, events and webhooks.
 */
import { Clock, Context, Effect, Layer } from "effect"
import { Bus, BusEvent } from "../bus/Bus.ts"
import { AppConfig } from "../config/Config.ts"
import { configSecrets, makeRedactor } from "../observability/Logging.ts"

export interface ChannelError {
  /** As the channel reported it, every secret of the config masked. */
  readonly message: string
  /** Epoch ms. */
  readonly at: number
}

export interface HealthView {
  readonly failing: boolean
  readonly lastError: ChannelError | null
  /** Epoch ms of the last answer from the platform (a getUpdates that returned), if any. */
  readonly lastAnswerAt: number | null
  /** Epoch ms of the last update the platform posted to this process (a webhook), if any. */
  readonly lastUpdateAt: number | null
  /** Epoch ms until which Telegram asked not to call again (429 `retry_after`), if that is still ahead. */
  readonly retryAfterUntil: number | null
}

interface Health {
  failing: boolean
  lastError: ChannelError | null
  lastAnswerAt: number | null
  lastUpdateAt: number | null
  retryAfterUntil: number | null
}

const make = (publish: (event: BusEvent) => Effect.Effect<void>, redact: (text: string) => string) => {
  const channels = new Map<string, Health>()
  const health = (name: string): Health => {
    const known = channels.get(name)
    if (known !== undefined) return known
    const created: Health = {
      failing: false,
      lastError: null,
      lastAnswerAt: null,
      lastUpdateAt: null,
      retryAfterUntil: null
    }
    channels.set(name, created)
    return created
  }
  const changed = (name: string, state: "running" | "failing", reason: string) =>
    Effect.zipRight(
      publish(BusEvent.ChannelState({ channel: name, state, reason })),
      state === "failing"
        ? Effect.logWarning(`channel failing: ${reason}`).pipe(Effect.annotateLogs("channel", name))
        : Effect.logInfo("channel running again").pipe(Effect.annotateLogs("channel", name))
    )

  /** Intake works again (an answer came, or the webhook was set): no longer failing. */
  const recovered = (name: string) =>
    Effect.suspend(() => {
      const h = health(name)
      h.retryAfterUntil = null
      if (!h.failing) return Effect.void
      h.failing = false
      return changed(name, "running", "recovered")
    })

  return {
    /** The platform answered a poll. */
    answered: (name: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        health(name).lastAnswerAt = now
        return recovered(name)
      }),
    /** The platform posted an update (a webhook) and it was taken. */
    received: (name: string) => Effect.map(Clock.currentTimeMillis, (now) => void (health(name).lastUpdateAt = now)),
    recovered,
    /** Intake failed with `message`; `retryAfterSeconds` when the platform asked to wait (a 429). */
    failed: (name: string, message: string, retryAfterSeconds?: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const h = health(name)
        h.lastError = { message: redact(message), at: now }
        h.retryAfterUntil = retryAfterSeconds === undefined ? null : now + retryAfterSeconds * 1000
        if (h.failing) return Effect.void
        h.failing = true
        return changed(name, "failing", h.lastError.message)
      }),
    view: (name: string, now: number): HealthView => {
      const h = health(name)
      return {
        failing: h.failing,
        lastError: h.lastError,
        lastAnswerAt: h.lastAnswerAt,
        lastUpdateAt: h.lastUpdateAt,
        retryAfterUntil: h.retryAfterUntil !== null && h.retryAfterUntil > now ? h.retryAfterUntil : null
      }
    }
  } as const
}

/** A reference, not a requirement: a channel built alone (in a test) reports to a health nobody reads. */
export class ChannelHealth extends Context.Reference<ChannelHealth>()("minibot/ChannelHealth", {
  defaultValue: () => make(() => Effect.void, makeRedactor([]))
}) {
  /** One health shared by the daemon's channels and the API; changes go out on the bus, secrets masked. */
  static readonly layer: Layer.Layer<ChannelHealth, never, Bus | AppConfig> = Layer.effect(
    ChannelHealth,
    Effect.gen(function*() {
      const bus = yield* Bus
      const { config } = yield* AppConfig
      return make(bus.publish, makeRedactor(configSecrets(config)))
    })
  )
}
