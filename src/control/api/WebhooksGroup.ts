/**
 * `GET /api/webhooks` and `GET /api/webhooks/deliveries`: each `[[webhooks]]` target with its
 * outbox counts and last error, and the deliveries themselves (filter `status=failed` to see what
 * did not arrive). Handlers in `WebhooksHandlers.ts`.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Schema } from "effect"
import { DeliveryStatus } from "../../webhooks/WebhookOutbox.ts"

const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500))

export const WebhookTarget = Schema.Struct({
  url: Schema.String,
  events: Schema.Array(Schema.String),
  allowPrivateNetworks: Schema.Boolean,
  /** False for a URL that still has rows but is no longer in the configuration. */
  configured: Schema.Boolean,
  pending: Schema.Number,
  delivered: Schema.Number,
  failed: Schema.Number,
  lastError: Schema.NullOr(Schema.String),
  lastErrorAt: Schema.NullOr(Schema.Number),
  lastDeliveredAt: Schema.NullOr(Schema.Number)
})

export const WebhookDelivery = Schema.Struct({
  /** The bus event's id: the `X-Minibot-Event-Id` header. */
  eventId: Schema.String,
  url: Schema.String,
  kind: Schema.String,
  status: DeliveryStatus,
  attempts: Schema.Number,
  /** HTTP status of the last answer; null when there was none (refused, timeout, connection error). */
  lastStatus: Schema.NullOr(Schema.Number),
  lastError: Schema.NullOr(Schema.String),
  /** When a pending delivery is tried next (epoch ms). */
  nextAttemptAt: Schema.NullOr(Schema.Number),
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  deliveredAt: Schema.NullOr(Schema.Number)
})

export class WebhooksGroup extends HttpApiGroup.make("webhooks")
  .add(HttpApiEndpoint.get("list", "/webhooks").addSuccess(Schema.Struct({ items: Schema.Array(WebhookTarget) })))
  .add(
    HttpApiEndpoint.get("deliveries", "/webhooks/deliveries")
      .setUrlParams(Schema.Struct({
        limit: Schema.optional(Limit),
        cursor: Schema.optional(Schema.String),
        status: Schema.optional(DeliveryStatus),
        url: Schema.optional(Schema.String)
      }))
      .addSuccess(Schema.Struct({ items: Schema.Array(WebhookDelivery), nextCursor: Schema.NullOr(Schema.String) }))
  )
{}
