/** `GET /api/status`: what an operator checks first. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"
import { ChannelGate } from "../../channels/ChannelGate.ts"
import { AppConfig, runnerAddressOf } from "../../config/Config.ts"
import { version } from "../../observability/Build.ts"
import * as ClusterStatus from "../../runtime/ClusterStatus.ts"
import { JobStore } from "../../scheduler/JobStore.ts"
import { Api } from "./Api.ts"

export const StatusHandlers = HttpApiBuilder.group(Api, "status", (handlers) =>
  Effect.gen(function*() {
    const { config } = yield* AppConfig
    const jobs = yield* JobStore
    const gate = yield* ChannelGate
    const sql = yield* SqlClient.SqlClient
    const startedAt = yield* Clock.currentTimeMillis
    const address = runnerAddressOf(config.cluster)
    const channel = (name: string, enabled: boolean) => ({
      enabled,
      state: !enabled ? "disabled" as const : gate.isPaused(name) ? "paused" as const : "running" as const
    })
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
            telegram: channel("telegram", config.channels.telegram.enabled),
            console: channel("console", config.channels.console.enabled)
          },
          nextJobDueAt,
          cluster: {
            ...cluster,
            thisRunner: cluster.backend === "postgres" ? `${address.host}:${address.port}` : null
          }
        }
      }))
  }))
