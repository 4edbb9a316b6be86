/**
 * The daemon as `minibot run` composes it (Layers.Daemon over the core runtime), in the test
 * process, with Telegram pointing at the loopback fake Bot API and the LLM at the fake OpenAI
 * server. Real SQLite in a temp dir; shorter Telegram timings.
 */
import { SqlClient } from "@effect/sql"
import { type Context, Duration, Effect, Layer, Logger } from "effect"
import * as Layers from "../../../src/app/Layers.ts"
import {
  defaultTelegramTimings,
  TelegramTimings,
  type TelegramTimingsShape
} from "../../../src/channels/telegram/TelegramTimings.ts"
import { AppConfig, makeConfig, type MinibotConfig } from "../../../src/config/Config.ts"
import { Llm } from "../../../src/llm/Llm.ts"
import * as Logging from "../../../src/observability/Logging.ts"
import * as Database from "../../../src/storage/Database.ts"
import { fakeLlmSection, type FakeLlmServer } from "../../support/FakeLlm.ts"
import type { FakeTelegramServer, SentMessage } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"

export const fastTimings: TelegramTimingsShape = {
  ...defaultTelegramTimings,
  pollMargin: Duration.millis(500),
  stallLimit: Duration.seconds(3),
  stallCheck: Duration.millis(200),
  retryBase: Duration.millis(50),
  retryCap: Duration.millis(300),
  sendRetryBase: Duration.millis(50),
  requestTimeout: Duration.seconds(5)
}

export interface TelegramHarnessOptions {
  /** `[channels.telegram]` keys over the defaults (user 42 allowed, token and api_root of the fake). */
  readonly telegram?: Record<string, unknown>
  readonly llm?: Record<string, unknown>
  readonly config?: Record<string, unknown>
  readonly dataDir?: string
  readonly timings?: Partial<TelegramTimingsShape>
}

export interface TelegramHarness {
  readonly dataDir: string
  readonly config: MinibotConfig
  readonly logs: Array<string>
  /** Runs an effect against the daemon's services (SqlClient, Readiness...). */
  readonly use: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E>
  readonly sql: SqlClient.SqlClient
}

/** Starts the daemon in the current scope; closing the scope shuts it down like SIGTERM would. */
export const startDaemon = (fake: FakeTelegramServer, llm: FakeLlmServer, options: TelegramHarnessOptions = {}) =>
  Effect.gen(function*() {
    const dataDir = options.dataDir ?? tempDir("minibot-telegram-")
    const config = makeConfig({
      ...options.config,
      runtime: { data_dir: dataDir, log_level: "debug" },
      llm: fakeLlmSection(llm, options.llm),
      channels: {
        telegram: {
          enabled: true,
          bot_token: fake.token,
          api_root: fake.url,
          allowed_user_ids: [42],
          poll_timeout_seconds: 2,
          ...options.telegram
        }
      }
    })
    const logs: Array<string> = []
    const logger = Layer.merge(
      Logger.replace(
        Logger.defaultLogger,
        Logging.lineLogger({ format: "logfmt", serviceName: "minibot", secrets: Logging.configSecrets(config) }).pipe(
          Logger.map((line) => void logs.push(line))
        )
      ),
      Logger.minimumLogLevel(Logging.toLogLevel("debug"))
    )
    const layer = Layers.Channels.pipe(
      Layer.provideMerge(Layers.runtimeWith(Llm.openaiWith({ retryBase: "10 millis", retryCap: "50 millis" }))),
      Layer.provideMerge(Layers.Senders),
      Layer.provideMerge(Database.sqliteAt(Database.databaseFile(dataDir))),
      Layer.provideMerge(AppConfig.layer(config)),
      Layer.provide(Layer.succeed(TelegramTimings, { ...fastTimings, ...options.timings })),
      Layer.provide(logger)
    )
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithScope(layer, scope)
    const use = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(Effect.provide(context as Context.Context<R>), Effect.provide(logger)) as Effect.Effect<A, E>
    const sql = yield* use(SqlClient.SqlClient)
    return { dataDir, config, logs, use, sql } satisfies TelegramHarness
  })

/** Starts the daemon in its own scope, runs `body`, then shuts it down. */
export const withDaemon = <A, E>(
  fake: FakeTelegramServer,
  llm: FakeLlmServer,
  options: TelegramHarnessOptions,
  body: (h: TelegramHarness) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(startDaemon(fake, llm, options), body))

export const texts = (sent: ReadonlyArray<SentMessage>) => sent.map((m) => m.visibleText)

/** Waits until a message whose visible text matches was sent; returns it. */
export const waitForText = (fake: FakeTelegramServer, pattern: RegExp | string, timeoutMs = 5_000) =>
  Effect.map(
    fake.waitForEffect((f) => f.sent.some((m) => matches(m.visibleText, pattern)), timeoutMs),
    () => fake.sent.find((m) => matches(m.visibleText, pattern))!
  )

const matches = (text: string, pattern: RegExp | string) =>
  typeof pattern === "string" ? text === pattern : pattern.test(text)

/** Lets time pass (for "nothing more happens" assertions). */
export const settle = (ms = 300) => Effect.sleep(Duration.millis(ms))
