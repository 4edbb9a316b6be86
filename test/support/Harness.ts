/**
 * The real runtime (actors on SQLite, turns, history, the openai-backed Llm) in the test process,
 * against a fake LLM on loopback, with a recording channel standing in for a chat platform.
 */
import { type Context, Effect, Layer, Logger } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Layers from "../../src/app/Layers.ts"
import { ConsoleOut, notEnabled, type OutboundMessage, TelegramOut } from "../../src/channels/Outbound.ts"
import { AppConfig, makeConfig } from "../../src/config/Config.ts"
import { InboundMessage } from "../../src/domain/Inbound.ts"
import { Llm } from "../../src/llm/Llm.ts"
import * as Logging from "../../src/observability/Logging.ts"
import { Actors } from "../../src/runtime/Actors.ts"
import * as Database from "../../src/storage/Database.ts"
import { fakeLlmSection, type FakeLlmServer } from "./FakeLlm.ts"

export const tempDir = (prefix = "minibot-test-") => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

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
const runtimeLayer = (config: ReturnType<typeof makeConfig>) =>
  Layers.runtimeWith(Llm.openaiWith({ retryBase: "10 millis", retryCap: "50 millis" })).pipe(
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
    config: ReturnType<typeof makeConfig>
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
    const logs: Array<string> = []
    const logger = Logger.replace(
      Logger.defaultLogger,
      Logging.lineLogger({ format: "logfmt", serviceName: "minibot", secrets: Logging.configSecrets(config) }).pipe(
        Logger.map((line) => void logs.push(line))
      )
    )
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
        Effect.promise(async () => {
          const deadline = Date.now() + timeoutMs
          while (replies.length < count) {
            if (Date.now() > deadline) {
              throw new Error(
                `expected ${count} replies, got ${replies.length}: ${JSON.stringify(replies.map((r) => r.text))}`
              )
            }
            await new Promise((r) => setTimeout(r, 5))
          }
        }),
      use: (effect) => Effect.provide(effect, context)
    }
    return harness
  })
