/** `GET /api/status`: what an operator checks first. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { SqlClient } from "@effect/sql"
import { Clock, Effect } from "effect"
import { ChannelGate } from "../../channels/ChannelGate.ts"
import { ChannelHealth } from "../../channels/ChannelHealth.ts"
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
    const health = yield* ChannelHealth
    const tg = config.channels.telegram
    /** Paused first: the operator's choice explains a silent channel better than a stale error. */
    const channel = (name: string, enabled: boolean, now: number) => {
      const h = health.view(name, now)
      return {
        enabled,
        state: !enabled
          ? "disabled" as const
          : gate.isPaused(name)
          ? "paused" as const
          : h.failing
          ? "failing" as const
          : "running" as const,
        lastError: h.lastError
      }
    }
    /** Seconds since `at`, to the tenth; null for never. */
    const ageOf = (at: number | null, now: number) => at === null ? null : Math.round((now - at) / 100) / 10
    const telegram = (now: number) => {
      const h = health.view("telegram", now)
      return {
        ...channel("telegram", tg.enabled, now),
        mode: tg.mode,
        lastPollAgeSeconds: tg.mode === "long_polling" ? ageOf(h.lastAnswerAt, now) : null,
        lastWebhookUpdateAgeSeconds: tg.mode === "webhook" ? ageOf(h.lastUpdateAt, now) : null,
        retryAfterUntil: h.retryAfterUntil
      }
    }
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
            telegram: telegram(now),
            console: channel("console", config.channels.console.enabled, now)
          },
          nextJobDueAt,
          cluster: {
            ...cluster,
            thisRunner: cluster.backend === "postgres" ? `${address.host}:${address.port}` : null
          }
        }
      }))
  }))
