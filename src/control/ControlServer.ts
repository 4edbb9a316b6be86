/**
 * The `[http]` server: health, readiness and metrics for operators, the HTTP API under `/api`
 * and the dashboard under `/admin` (`[http] api`), and the routes other subsystems add to `ControlRoutes` (the Telegram webhook).
 * `/healthz` and `/readyz` are always open; `/metrics` needs the API token when one is set,
 * unless `[http] public_metrics`.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { AppConfig, HttpSettings } from "../config/Config.ts"
import { ConfigError } from "../config/ConfigLoader.ts"
import * as Prometheus from "../observability/Prometheus.ts"
import * as Database from "../storage/Database.ts"
import { ApiAuth, isLoopback } from "./api/ApiAuth.ts"
import { ControlRoutes } from "./ControlRoutes.ts"
import { Readiness } from "./Readiness.ts"

export { ControlRoutes } from "./ControlRoutes.ts"

const HealthRoutes = ControlRoutes.use((router) =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    const http = yield* HttpSettings
    const auth = yield* ApiAuth
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
    const metrics = Effect.map(
      Prometheus.scrape,
      (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4" })
    )
    yield* router.get("/metrics", http.public_metrics ? metrics : auth.guard(metrics))
  })
)

/** Without a token the API is open to whoever reaches the server: only this machine may. */
const checkExposure = Effect.gen(function*() {
  const http = yield* HttpSettings
  if (!http.api || http.api_token !== undefined || isLoopback(http.host)) return
  const { source } = yield* AppConfig
  return yield* new ConfigError({
    origin: source._tag === "File" ? source.path : "environment",
    problems: [
      `http.api_token: required when [http] host (${http.host}) is not a loopback address ` +
      "and the API is on (set a token, bind to 127.0.0.1, or set [http] api = false)"
    ]
  })
})

/** Serves the control routes on `[http] host:port` when `[http] enabled`. */
export const layer = Layer.unwrapEffect(
  Effect.gen(function*() {
    const http = yield* HttpSettings
    if (!http.enabled) return Layer.empty
    yield* checkExposure
    const { listen } = yield* Effect.promise(() => import("./HttpListener.ts"))
    // The API (and its OpenAPI reference) and the dashboard are loaded only when they are served.
    const routes = http.api
      ? Layer.mergeAll(
        HealthRoutes,
        (yield* Effect.promise(() => import("./api/ApiServer.ts"))).ApiRoutes,
        (yield* Effect.promise(() => import("./Dashboard.ts"))).DashboardRoutes
      )
      : HealthRoutes
    return ControlRoutes.serve().pipe(
      HttpServer.withLogAddress,
      Layer.provide(routes),
      Layer.provide(ApiAuth.Default),
      Layer.provide(listen(http.host, http.port))
    )
  })
)
