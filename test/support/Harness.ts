/**
 * The daemon's runtime in the test process, with real SQLite in a temp dir and the LLM pointing at
 * the loopback fake OpenAI server, in two shapes:
 *
 * - `makeHarness`: the core runtime (actors, turns, history, scheduler) with a recording channel
 *   standing in for a chat platform (console conversations);
 * - `startDaemon` / `withDaemon`: the daemon as `minibot run` composes it (senders, core,
 *   channels), with Telegram pointing at the loopback fake Bot API and shorter Telegram timings.
 *
 * Both write their log lines, formatted as the daemon writes them, into `logs`; closing the scope
 * shuts the runtime down as SIGTERM would. Turn logic without actors is tested on `TurnKit.ts`.
 */
import { SqlClient } from "@effect/sql"
import { type Context, Duration, Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Layers from "../../src/app/Layers.ts"
import { ConsoleOut, notEnabled, type OutboundMessage, TelegramOut } from "../../src/channels/Outbound.ts"
import {
  defaultTelegramTimings,
  TelegramTimings,
  type TelegramTimingsShape
} from "../../src/channels/telegram/TelegramTimings.ts"
import { AppConfig, makeConfig, type MinibotConfig } from "../../src/config/Config.ts"
import { InboundMessage } from "../../src/domain/Inbound.ts"
import { Llm } from "../../src/llm/Llm.ts"
import { AlbumTimings, type AlbumTimingsShape } from "../../src/media/MediaGroups.ts"
import * as Logging from "../../src/observability/Logging.ts"
import { Actors } from "../../src/runtime/Actors.ts"
import * as Database from "../../src/storage/Database.ts"
import { fakeLlmSection, type FakeLlmServer } from "./FakeLlm.ts"
import type { FakeTelegramServer, SentMessage } from "./FakeTelegram.ts"
import { eventually } from "./Wait.ts"

export const tempDir = (prefix = "minibot-test-") => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

/** The openai-backed Llm with retries short enough for tests. */
const testLlm = Llm.openaiWith({ retryBase: "10 millis", retryCap: "50 millis" })

/** A logger writing the daemon's logfmt lines (secrets scrubbed) into `logs`. */
const capturedLogs = (config: MinibotConfig) => {
  const logs: Array<string> = []
  const ring = Logging.LogRing.make()
  const logger = Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logging.LogRing.recording(
        Logging.lineLogger({ format: "logfmt", serviceName: "minibot", secrets: Logging.configSecrets(config) }),
        ring
      ).pipe(Logger.map((line) => void logs.push(line)))
    ),
    Layer.succeed(Logging.LogRing, ring)
  )
  return { logs, logger }
}

// ---------------------------------------------------------------------------------------------
// The core runtime with a recording channel

export interface Harness {
  readonly dataDir: string
  /** Every reply delivered, in delivery order. */
  readonly replies: Array<OutboundMessage>
  /** Every log line written, formatted as the daemon writes them. */
  readonly logs: Array<string>
  readonly send: (chatId: string, text: string, messageId?: string) => Effect.Effect<string, unknown>
  readonly repliesTo: (chatId: string) => Array<string>
  readonly waitForReplies: (count: number, timeoutMs?: number) => Effect.Effect<void>
  /** Runs an effect with the runtime's services (Scheduler, Tasks, the SqlClient...). */
  readonly use: <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<RuntimeLayer>>) => Effect.Effect<A, E>
}

type RuntimeLayer = ReturnType<typeof runtimeLayer>
const runtimeLayer = (config: MinibotConfig) =>
  Layers.runtimeWith(testLlm).pipe(
    // SQLite under data_dir, or Postgres when the config says so.
    Layer.provideMerge(Database.unlocked(config)),
    Layer.provideMerge(AppConfig.layer(config))
  )

let counter = 0

export interface HarnessOptions {
  readonly config?: Record<string, unknown>
  readonly llm?: Record<string, unknown>
  readonly dataDir?: string
  /** Another runtime layer (e.g. on Postgres) in place of SQLite under `dataDir`. */
  readonly layer?: (
    config: MinibotConfig
  ) => Layer.Layer<Layer.Layer.Success<RuntimeLayer>, unknown, TelegramOut | ConsoleOut>
}

/** Builds the runtime in the current scope; closing the scope shuts it down like SIGTERM would. */
export const makeHarness = (fake: FakeLlmServer, options: HarnessOptions = {}) =>
  Effect.gen(function*() {
    const dataDir = options.dataDir ?? tempDir()
    const config = makeConfig({
      ...options.config,
      runtime: { data_dir: dataDir, log_level: "debug", ...(options.config?.runtime as object | undefined) },
      llm: fakeLlmSection(fake, options.llm)
    })
    const replies: Array<OutboundMessage> = []
    const { logger, logs } = capturedLogs(config)
    // Console conversations stand for a chat platform: their replies are recorded.
    const senders = Layer.merge(
      Layer.succeed(ConsoleOut, { send: (message) => Effect.sync(() => (replies.push(message), { chunks: 1 })) }),
      Layer.succeed(TelegramOut, notEnabled("telegram"))
    )
    const layer = (options.layer?.(config) ?? runtimeLayer(config)).pipe(
      Layer.provide(senders),
      Layer.provide(logger)
    )
    const scope = yield* Effect.scope
    const context: Context.Context<Layer.Layer.Success<RuntimeLayer>> = yield* Layer.buildWithScope(layer, scope)
    const conversations = yield* Effect.provide(Actors, context)

    const harness: Harness = {
      dataDir,
      replies,
      logs,
      send: (chatId, text, messageId = `m${++counter}`) =>
        conversations.submit(
          new InboundMessage({
            messageId,
            conversation: { channel: "console", chatId },
            userId: `user-${chatId}`,
            text,
            receivedAt: Date.now(),
            requestId: `req-${messageId}`
          })
        ).pipe(Effect.as(messageId), Effect.provide(logger)),
      repliesTo: (chatId) => replies.filter((r) => r.conversation.chatId === chatId).map((r) => r.text),
      waitForReplies: (count, timeoutMs = 10_000) =>
        eventually(
          () => replies.length >= count,
          () => `${count} replies (got ${replies.length}: ${JSON.stringify(replies.map((r) => r.text))})`,
          timeoutMs
        ),
      use: (effect) => Effect.provide(effect, context)
    }
    return harness
  })

// ---------------------------------------------------------------------------------------------
// The whole daemon, with Telegram on the fake Bot API

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
  readonly albumTimings?: Partial<AlbumTimingsShape>
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
          // Each message its own turn, as the tests of other features expect; the paste tests set a window.
          merge_window_ms: 0,
          ...options.telegram
        }
      }
    })
    const captured = capturedLogs(config)
    const logger = Layer.merge(captured.logger, Logger.minimumLogLevel(Logging.toLogLevel("debug")))
    const layer = Layers.Channels.pipe(
      Layer.provideMerge(Layers.ChannelControl),
      Layer.provideMerge(Layers.runtimeWith(testLlm)),
      Layer.provideMerge(Layers.Senders),
      Layer.provideMerge(Database.sqliteAt(Database.databaseFile(dataDir))),
      Layer.provideMerge(AppConfig.layer(config)),
      Layer.provide(Layer.succeed(TelegramTimings, { ...fastTimings, ...options.timings })),
      Layer.provide(
        options.albumTimings === undefined
          ? Layer.empty
          : Layer.succeed(AlbumTimings, { ...AlbumTimings.defaultValue(), ...options.albumTimings })
      ),
      Layer.provide(logger)
    )
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithScope(layer, scope)
    const use = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(Effect.provide(context as Context.Context<R>), Effect.provide(logger)) as Effect.Effect<A, E>
    const sql = yield* use(SqlClient.SqlClient)
    return { dataDir, config, logs: captured.logs, use, sql } satisfies TelegramHarness
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
export const waitForText = (fake: FakeTelegramServer, pattern: RegExp | string, timeoutMs = 15_000) =>
  Effect.map(
    fake.waitForEffect((f) => f.sent.some((m) => matches(m.visibleText, pattern)), timeoutMs),
    () => fake.sent.find((m) => matches(m.visibleText, pattern))!
  )

const matches = (text: string, pattern: RegExp | string) =>
  typeof pattern === "string" ? text === pattern : pattern.test(text)

/**
 * Lets time pass. Not for "nothing more happens" checks (they pass vacuously on a slow machine):
 * wait for a later event that must follow instead, such as the chat's next reply.
 */
export const settle = (ms = 300) => Effect.sleep(Duration.millis(ms))
