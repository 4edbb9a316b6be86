/** The `webhooks` group of the API (`WebhooksGroup.ts`): read from the webhook outbox. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect, Layer } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { WebhookOutbox } from "../../webhooks/WebhookOutbox.ts"
import { Api } from "./Api.ts"
import { pageOf, pageResult } from "./Paging.ts"

export const WebhooksHandlers = HttpApiBuilder.group(Api, "webhooks", (handlers) =>
  Effect.gen(function*() {
    const { config } = yield* AppConfig
    const outbox = yield* WebhookOutbox
    return handlers
      .handle("list", () =>
        Effect.gen(function*() {
          const summaries = yield* outbox.summary(config.webhooks.map((w) => w.url)).pipe(Effect.orDie)
          return {
            items: summaries.map((s) => {
              const webhook = config.webhooks.find((w) => w.url === s.url)
              return {
                ...s,
                events: webhook?.events ?? [],
                allowPrivateNetworks: webhook?.allow_private_networks ?? false,
                configured: webhook !== undefined
              }
            })
          }
        }))
      .handle("deliveries", ({ urlParams }) =>
        Effect.gen(function*() {
          const page = yield* pageOf(urlParams)
          const rows = yield* outbox.list({
            status: urlParams.status,
            url: urlParams.url,
            limit: page.limit + 1,
            offset: page.offset
          }).pipe(Effect.orDie)
          return pageResult(
            rows.map((row) => ({
              eventId: row.event_id,
              url: row.url,
              kind: row.kind,
              status: row.status,
              attempts: row.attempts,
              lastStatus: row.last_status,
              lastError: row.last_error,
              nextAttemptAt: row.status === "pending" ? row.next_attempt_at : null,
              createdAt: row.created_at,
              updatedAt: row.updated_at,
              deliveredAt: row.delivered_at
            })),
            page
          )
        }))
  })).pipe(Layer.provide(WebhookOutbox.Default))
