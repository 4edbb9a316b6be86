/** `GET /api/status`: what an operator checks first. */
import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"
import { AppConfig, runnerAddressOf } from "../../config/Config.ts"
import { version } from "../../observability/Build.ts"
import * as ClusterStatus from "../../runtime/ClusterStatus.ts"
import { JobStore } from "../../scheduler/JobStore.ts"
import { Api } from "./Api.ts"

export const StatusHandlers = HttpApiBuilder.group(Api, "status", (handlers) =>
  Effect.gen(function*() {
    const { config } = yield* AppConfig
    const jobs = yield* JobStore
    const sql = yield* SqlClient.SqlClient
    const startedAt = yield* Clock.currentTimeMillis
    const address = runnerAddressOf(config.cluster)
    return handlers.handle("status", () =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const nextJobDueAt = yield* jobs.nextDue(now).pipe(Effect.orDie)
        const cluster = yield* ClusterStatus.read.pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.orDie)
        const memory = process.memoryUsage()
        return {
          version,
          uptimeSeconds: Math.round((now - startedAt) / 1000),
          memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
          channels: {
            telegram: { enabled: config.channels.telegram.enabled },
            console: { enabled: config.channels.console.enabled }
          },
          nextJobDueAt,
          cluster: {
            ...cluster,
            thisRunner: cluster.backend === "postgres" ? `${address.host}:${address.port}` : null
          }
        }
      }))
  }))
