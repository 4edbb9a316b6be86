import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { createRequire } from "node:module"
import { makeConfig } from "../../src/config/Config.ts"
import * as Logging from "../../src/observability/Logging.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"

const logfmt = createRequire(import.meta.url)("logfmt") as { parse(line: string): Record<string, string> }

const apiKey = "sk-live-0123456789abcdefSECRET"
const botToken = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

const capture = (
  config = makeConfig({ llm: { api_key: apiKey }, channels: { telegram: { bot_token: botToken } } })
) => {
  const lines: Array<string> = []
  const logger = Logger.replace(
    Logger.defaultLogger,
    Logging.lineLogger({ format: "logfmt", serviceName: "minibot", secrets: Logging.configSecrets(config) }).pipe(
      Logger.map((line) => void lines.push(line))
    )
  )
  return { lines, logger }
}

describe("logging", () => {
  it.effect("writes logfmt lines with service, component and the ids of the event", () =>
    Effect.gen(function*() {
      const { lines, logger } = capture()
      yield* Effect.logInfo("turn started").pipe(
        Effect.annotateLogs({ component: "conversation", request_id: "r-1", chat_id: "42", user_id: "7" }),
        Effect.provide(logger)
      )
      expect(lines).toHaveLength(1)
      const fields = logfmt.parse(lines[0]!)
      expect(fields).toMatchObject({
        level: "INFO",
        message: "turn started",
        service: "minibot",
        component: "conversation",
        request_id: "r-1",
        chat_id: "42",
        user_id: "7"
      })
    }))

  it.effect("never prints the API key or bot token, even inside an SDK error's URL", () =>
    Effect.gen(function*() {
      const { lines, logger } = capture()
      const sdkError = new Error(
        `request to https://api.telegram.org/bot${botToken}/getUpdates failed, reason: ECONNRESET`
      )
      yield* Effect.logError("polling failed", sdkError).pipe(Effect.provide(logger))
      yield* Effect.logWarning(`auth header was Bearer ${apiKey}`).pipe(Effect.provide(logger))
      yield* Effect.logInfo("config").pipe(Effect.annotateLogs("key", apiKey), Effect.provide(logger))
      const all = lines.join("\n")
      expect(all).not.toContain(apiKey)
      expect(all).not.toContain(botToken)
      expect(all).not.toContain(botToken.split(":")[1]!)
      expect(all.match(/<redacted>/g)?.length).toBe(3)
    }))

  it.effect("masks the values of [telemetry] headers and a password in its endpoint", () =>
    Effect.gen(function*() {
      const header = "hc-team-key-8d1f0a"
      const password = "collector-pw-71c2"
      const { lines, logger } = capture(makeConfig({
        telemetry: { endpoint: `https://otel:${password}@collector.example`, headers: { "x-honeycomb-team": header } }
      }))
      yield* Effect.logWarning(`export failed: x-honeycomb-team: ${header}`).pipe(Effect.provide(logger))
      yield* Effect.logWarning(`POST https://otel:${password}@collector.example/v1/traces`).pipe(Effect.provide(logger))
      const all = lines.join("\n")
      expect(all).not.toContain(header)
      expect(all).not.toContain(password)
      expect(all.match(/<redacted>/g)?.length).toBe(2)
    }))

  it.effect("masks anything shaped like a bot token even when the config does not know it", () =>
    Effect.gen(function*() {
      const { lines, logger } = capture(makeConfig({}))
      yield* Effect.logError(`GET https://api.telegram.org/bot${botToken}/getMe: 401`).pipe(Effect.provide(logger))
      expect(lines[0]).not.toContain(botToken)
      expect(lines[0]).toContain("bot<redacted>/getMe")
    }))

  it.effect("masks a secret URL-encoded or JSON-escaped, as an upstream server may echo it", () =>
    Effect.gen(function*() {
      const webhookSecret = "hook\"secret/with:odd chars"
      const { lines, logger } = capture(makeConfig({
        llm: { api_key: apiKey },
        channels: { telegram: { bot_token: botToken, webhook_secret: webhookSecret } },
        storage: { postgres_url: "postgres://minibot:pg-pass-1234@db/minibot" }
      }))
      yield* Effect.logWarning(`upstream said: bad url /bot${encodeURIComponent(botToken)}/getMe`).pipe(
        Effect.provide(logger)
      )
      yield* Effect.logWarning(`body ${JSON.stringify({ secret: webhookSecret })}`).pipe(Effect.provide(logger))
      yield* Effect.logWarning(`url ${encodeURIComponent(webhookSecret).toLowerCase()}`).pipe(Effect.provide(logger))
      yield* Effect.logWarning("db postgres://minibot:pg-pass-1234@db/minibot refused").pipe(Effect.provide(logger))
      const all = lines.join("\n")
      expect(all).not.toContain(encodeURIComponent(botToken))
      expect(all).not.toContain(botToken.split(":")[1]!)
      expect(all).not.toContain("secret/with")
      expect(all).not.toContain("secret%2fwith")
      expect(all).not.toContain("pg-pass-1234")
      expect(all.match(/<redacted>/g)?.length).toBe(4)
    }))

  it.effect("plain text escapes a newline, so a message cannot forge a second line", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const config = makeConfig({ logging: { structured: false, json: false, logfmt: { enabled: false } } })
      expect(Logging.logFormat(config)).toBe("text")
      yield* Effect.logInfo("fetched https://x.test/a\ntimestamp=2026 level=ERROR message=forged").pipe(
        Effect.provide(Logging.layer(config, { write: (line) => lines.push(line) }))
      )
      expect(lines).toHaveLength(1)
      expect(lines[0]).not.toContain("\n")
      expect(lines[0]).toContain("a\\ntimestamp=2026")
    }))

  it.effect("lines carry ISO times and no fiber id; cluster's own warnings stay at debug", () =>
    Effect.gen(function*() {
      const at = (level: "info" | "debug") => {
        const lines: Array<string> = []
        const layer = Logging.layer(makeConfig({ runtime: { log_level: level } }), { write: (l) => lines.push(l) })
        return Effect.as(
          Effect.gen(function*() {
            yield* Effect.logInfo("ours")
            yield* Effect.logWarning("Could not acquire/release shards").pipe(
              Effect.annotateLogs({ package: "@effect/cluster", fiber: "Shard acquisition loop" })
            )
            yield* Effect.logError("Shard lock storage is unhealthy").pipe(
              Effect.annotateLogs({ package: "@effect/cluster" })
            )
          }).pipe(Effect.provide(layer)),
          lines
        )
      }
      const info = (yield* at("info")).map((l) => logfmt.parse(l))
      expect(info.map((f) => f.message)).toEqual(["ours", "Shard lock storage is unhealthy"])
      expect(info[0]!.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(info[0]!.fiber).toBeUndefined()
      const times = capture()
      yield* Effect.logInfo("event").pipe(
        Effect.annotateLogs({ receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5), due_at: Date.UTC(2026, 0, 2), attempt: 2 }),
        Effect.provide(times.logger)
      )
      expect(logfmt.parse(times.lines[0]!)).toMatchObject({
        receivedAt: "2026-01-02T03:04:05.000Z",
        due_at: "2026-01-02T00:00:00.000Z",
        attempt: "2"
      })
      const debug = (yield* at("debug")).map((l) => logfmt.parse(l))
      expect(debug[1]).toMatchObject({ level: "DEBUG", message: "Could not acquire/release shards" })
    }))

  it.scopedLive("an LLM that rejects the key and repeats it back does not get it into the logs", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make({ expectedApiKey: "sk-the-right-one" })
      const h = yield* makeHarness(fake, { llm: { api_key: apiKey } })
      yield* h.send("c", "hi")
      yield* h.waitForReplies(1)
      expect(fake.completions()[0]!.status).toBe(401)
      expect(h.replies[0]!.kind).toBe("error")
      expect(h.logs.length).toBeGreaterThan(0)
      expect(h.logs.join("\n")).not.toContain(apiKey)
      expect(h.replies[0]!.text).not.toContain(apiKey)
    }))

  describe("the layer", () => {
    const logAtEveryLevel = Effect.gen(function*() {
      yield* Effect.logDebug("debug line")
      yield* Effect.logInfo("info line")
      yield* Effect.logWarning("warning line")
      yield* Effect.logError("error line")
    })
    const messages = (lines: ReadonlyArray<string>) => lines.map((line) => logfmt.parse(line).message)

    it.effect("writes what [runtime] log_level lets through", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const config = makeConfig({ runtime: { log_level: "debug" } })
        yield* logAtEveryLevel.pipe(Effect.provide(Logging.layer(config, { write: (line) => lines.push(line) })))
        expect(messages(lines)).toEqual(["debug line", "info line", "warning line", "error line"])
      }))

    it.effect("quiet keeps warnings and errors only, whatever log_level says", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const config = makeConfig({ runtime: { log_level: "debug" } })
        yield* logAtEveryLevel.pipe(
          Effect.provide(Logging.layer(config, { quiet: true, write: (line) => lines.push(line) }))
        )
        expect(messages(lines)).toEqual(["warning line", "error line"])
      }))
  })
})

describe("Node's process warnings", () => {
  const emitted = (name: string, code: string) =>
    Effect.async<void>((resume) => {
      process.once("warning", () => resume(Effect.void))
      process.emitWarning(`${name} from a library`, name, code)
    })

  it.scoped("go through the logger: a library's deprecation at debug, any other warning at warning", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const config = makeConfig({})
      yield* Layer.build(Logging.layer(config, { write: (line) => lines.push(line) }))
      yield* emitted("DeprecationWarning", "DEP0999")
      yield* emitted("MaxListenersExceededWarning", "W0001")
      // At info, the deprecation is not written; the other warning is, as a logfmt line.
      expect(lines.map((line) => logfmt.parse(line))).toEqual([
        expect.objectContaining({
          level: "WARN",
          message: "MaxListenersExceededWarning from a library",
          package: "node",
          code: "W0001"
        })
      ])
    }))

  it.scoped("at debug the deprecation is written too, in the configured format", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      yield* Layer.build(
        Logging.layer(makeConfig({ runtime: { log_level: "debug" } }), { write: (l) => lines.push(l) })
      )
      yield* emitted("DeprecationWarning", "DEP0998")
      expect(lines.map((line) => logfmt.parse(line))).toContainEqual(
        expect.objectContaining({ level: "DEBUG", warning: "DeprecationWarning", code: "DEP0998" })
      )
    }))
})
