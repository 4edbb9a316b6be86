/**
 * Two runners sharing one Postgres database and one NATS JetStream bus (each with its own
 * connections, as two processes would have), both with the same `[[webhooks]]` entry: every
 * event, whichever runner published it, reaches the receiver once.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Bus, BusEvent } from "../../src/bus/Bus.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import * as Database from "../../src/storage/Database.ts"
import * as Webhooks from "../../src/webhooks/Webhooks.ts"
import { WebhooksConfig, WebhooksSettings } from "../../src/webhooks/WebhooksConfig.ts"
import { freshDatabase } from "../support/Postgres.ts"
import { eventually, pollUntil } from "../support/Wait.ts"

const natsUrl = process.env.MINIBOT_TEST_NATS ?? "nats://127.0.0.1:4222"

const freshStream = Effect.acquireRelease(
  Effect.sync(() => {
    const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 12)
    return { stream: `MINIBOT_TEST_${tag}`, subject_prefix: `minibot.test.${tag}` }
  }),
  ({ stream }) =>
    Effect.promise(async () => {
      const nc = await connect({ servers: natsUrl })
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false)
      await nc.close()
    })
)

const receiver = Effect.acquireRelease(
  Effect.async<{ readonly ids: Array<string>; readonly server: http.Server; readonly url: string }>((resume) => {
    const ids: Array<string> = []
    const server = http.createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        ids.push(String(req.headers["x-minibot-event-id"]))
        res.writeHead(204).end()
      })
    })
    server.listen(
      0,
      "127.0.0.1",
      () =>
        resume(Effect.succeed({ ids, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` }))
    )
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

const reply = (n: number) =>
  BusEvent.ReplySent({
    conversation: conversationKey("telegram", String(n)),
    messageId: `m${n}`,
    requestId: `r${n}`,
    chunks: 1,
    durationMs: 5
  })

describe("webhooks with several runners", () => {
  it.scopedLive("Postgres and NATS: two runners, events published on both, each delivered once", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const names = yield* freshStream
      const target = yield* receiver
      const webhooks = Schema.decodeUnknownSync(WebhooksConfig)([
        { url: target.url, events: ["reply.sent"], secret: "a-secret-of-sixteen-plus", allow_private_networks: true }
      ])
      const runner = Effect.gen(function*() {
        const bus = Bus.nats({ ...names, url: Redacted.make(natsUrl), max_buffered_events: 10_000 })
        const context = yield* Layer.build(
          Webhooks.layer.pipe(
            Layer.provideMerge(Layer.mergeAll(bus, Database.postgresAt(Redacted.make(db.url)))),
            Layer.provide(WebhooksSettings.layer(webhooks))
          )
        )
        return { bus: Context.get(context, Bus), sql: Context.get(context, SqlClient.SqlClient) }
      })
      const a = yield* runner
      const b = yield* runner

      const count = 40
      yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) => (i % 2 === 0 ? a : b).bus.publish(reply(i))
      )
      yield* eventually(
        () => new Set(target.ids).size === count,
        () => `${count} events, got ${target.ids.length}`,
        30_000
      )
      // Every row delivered, and the receiver got each event once.
      yield* pollUntil(
        a.sql<{ status: string; n: unknown }>`SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status`,
        (found) => found.length === 1 && found[0]!.status === "delivered" && Number(found[0]!.n) === count
      )
      expect(target.ids).toHaveLength(count)
    }))
})
