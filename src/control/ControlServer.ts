/**
 * The `[http]` server: health, readiness and metrics for operators; other subsystems add their
 * routes (the Telegram webhook) to `ControlRoutes`.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { HttpSettings } from "../config/Config.ts"
import * as Prometheus from "../observability/Prometheus.ts"
import * as Database from "../storage/Database.ts"
import { Readiness } from "./Readiness.ts"

export class ControlRoutes extends HttpRouter.Tag("minibot/ControlRoutes")<ControlRoutes>() {}

const HealthRoutes = ControlRoutes.use((router) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    yield* router.get("/healthz", HttpServerResponse.text("ok\n"))
    yield* router.get(
      "/readyz",
      Effect.gen(function*() {
        const components = yield* readiness.snapshot
        const databaseOk = sql._tag === "Some"
          ? yield* Database.ping.pipe(
            Effect.provideService(SqlClient.SqlClient, sql.value),
            Effect.as(true),
            Effect.orElseSucceed(() => false)
          )
          : true
        const checks = { config: true, database: databaseOk, ...components }
        const ready = Object.values(checks).every(Boolean)
        return yield* HttpServerResponse.json({ ready, checks }, { status: ready ? 200 : 503 })
      })
    )
    yield* router.get(
      "/metrics",
      Effect.map(
        Prometheus.scrape,
        (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4" })
      )
    )
  })
)

/** Serves the control routes on `[http] host:port` when `[http] enabled`. */
export const layer = Layer.unwrapEffect(
  Effect.gen(function*() {
    const http = yield* HttpSettings
    if (!http.enabled) return Layer.empty
    return ControlRoutes.serve().pipe(
      HttpServer.withLogAddress,
      Layer.provide(HealthRoutes),
      Layer.provide(NodeHttpServer.layer(createServer, { host: http.host, port: http.port }))
    )
  })
)
