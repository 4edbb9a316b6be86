/**
 * The `[[webhooks]]` entries of `config.toml`: where bus events are POSTed, which kinds, and the
 * secret they are signed with. The Schema checks each key's shape; `webhookProblems`
 * (`WebhookKinds.ts`) checks the event kinds against the bus and the rules across entries.
 */
import { Context, Layer, Schema } from "effect"
import { HttpUrl, PositiveSeconds, Secret, withDefault } from "../config/Primitives.ts"

export const WebhookConfig = Schema.Struct({
  /** http(s) URL the events are POSTed to. */
  url: HttpUrl,
  /** Event kinds as in `GET /api/events` (`inbound.received`, `reply.sent`...), or `"*"` for all. */
  events: Schema.Array(Schema.NonEmptyString).pipe(
    Schema.minItems(1, { message: () => `list at least one event kind (or "*" for all)` })
  ),
  /** The HMAC-SHA256 key of `X-Minibot-Signature`. */
  secret: Secret,
  /** Off: the URL may not lead to a loopback, private or link-local address (as `http_request`). */
  allow_private_networks: withDefault(Schema.Boolean, () => false),
  /** One delivery attempt: connecting, sending and the answer. */
  timeout_seconds: withDefault(PositiveSeconds.pipe(Schema.lessThanOrEqualTo(120)), () => 10)
})
export type WebhookConfig = typeof WebhookConfig.Type

export const WebhooksConfig = Schema.Array(WebhookConfig)
export type WebhooksConfig = typeof WebhooksConfig.Type

/** Ready to place in `MinibotConfig`: `webhooks: webhooksSection` (absent: none). */
export const webhooksSection = withDefault(WebhooksConfig, () => [])

/** The `[[webhooks]]` entries of this process. */
export class WebhooksSettings extends Context.Tag("minibot/WebhooksSettings")<WebhooksSettings, WebhooksConfig>() {
  static readonly layer = (webhooks: WebhooksConfig) => Layer.succeed(WebhooksSettings, webhooks)
}

/** Every event kind is sent to a webhook whose `events` holds this. */
export const allEvents = "*"

/** Whether a webhook takes events of this kind. */
export const wants = (webhook: WebhookConfig, kind: string): boolean =>
  webhook.events.includes(kind) || webhook.events.includes(allEvents)
