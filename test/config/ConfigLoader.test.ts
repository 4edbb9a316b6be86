import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ConfigSource } from "../../src/config/Config.ts"
import { configFromEnv, loadConfig, parseConfigText } from "../../src/config/ConfigLoader.ts"
import { tempDir } from "../support/Harness.ts"

const parse = (text: string, env: Record<string, string> = {}) =>
  parseConfigText(text, env, "config.toml").pipe(Effect.either)

const problemsOf = (text: string, env: Record<string, string> = {}) =>
  Effect.map(parse(text, env), (r) => (Either.isLeft(r) ? r.left.problems : []))

describe("config", () => {
  it.effect("reports every bad key at once, each with its path", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`
[runtime]
log_level = "loud"
[llm]
temperature = 3
[llm.context]
history_window = "six"
[channels.telegram]
mode = "carrier-pigeon"
[http]
port = 99999
`)
      expect(problems).toEqual(expect.arrayContaining([
        `llm.context.history_window: expected number, got "six"`,
        expect.stringMatching(/^runtime\.log_level: expected one of .*"info".*got "loud"/),
        expect.stringMatching(/^llm\.temperature: .*between 0 and 2.*3/),
        expect.stringMatching(
          /^channels\.telegram\.mode: expected one of "long_polling" \| "webhook", got "carrier-pigeon"/
        ),
        expect.stringMatching(/^http\.port: /)
      ]))
      expect(problems).toHaveLength(5)
    }))

  it.effect("the error message lists the problems under the file name, without a stack", () =>
    Effect.gen(function*() {
      const result = yield* parse(`[llm.context]\nhistory_window = "six"\n`)
      const error = Either.getLeft(result).pipe(Option.getOrThrow)
      expect(error.message).toBe(
        `invalid configuration (config.toml):\n  llm.context.history_window: expected number, got "six"`
      )
    }))

  it.effect("reports TOML syntax errors with their position", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`[llm\nmodel = "x"`)
      expect(problems).toHaveLength(1)
      expect(problems[0]).toBe("TOML syntax at line 1, column 5: illegal character in key")
    }))

  it.effect("interpolates ${ENV} anywhere in a string, and names a missing variable", () =>
    Effect.gen(function*() {
      const ok = yield* parse(
        `[llm]\napi_key = "\${KEY}"\nbase_url = "http://\${HOST}:8000/v1"\n`,
        { KEY: "sk-secret", HOST: "127.0.0.1" }
      )
      const config = Either.getOrThrow(ok).config
      expect(Redacted.value(config.llm.api_key!)).toBe("sk-secret")
      expect(config.llm.base_url).toBe("http://127.0.0.1:8000/v1")

      const problems = yield* problemsOf(`[channels.telegram]\nbot_token = "\${MISSING_TOKEN}"\n`)
      expect(problems).toEqual(["channels.telegram.bot_token: environment variable MISSING_TOKEN is not set"])
    }))

  it.effect("secrets are Redacted: printing the config does not show them", () =>
    Effect.gen(function*() {
      const config = Either.getOrThrow(
        yield* parse(
          `[llm]\napi_key = "sk-very-secret-value"\n[channels.telegram]\nbot_token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"\n`
        )
      ).config
      const printed = JSON.stringify(config) + String(config.llm.api_key) + `${config.channels.telegram.bot_token}`
      expect(printed).not.toContain("sk-very-secret-value")
      expect(printed).not.toContain("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    }))

  it.effect("the seed's example config loads once its secrets are given", () =>
    Effect.gen(function*() {
      const text = fs.readFileSync(path.join(import.meta.dirname, "seed-config.toml"), "utf8")
      const loaded = Either.getOrThrow(yield* parse(text))
      expect(loaded.config.channels.telegram.enabled).toBe(true)
      expect(loaded.config.channels.telegram.allowed_user_ids).toEqual([123456789, 987654321])
      expect(loaded.config.memory.backend).toBe("in_memory")
      expect(loaded.config.memory.redis.ttl_seconds).toBe(3600)
      expect(loaded.config.llm.context.history_window).toBe(6)
      expect(loaded.config.runtime.log_level).toBe("info")
      // Sections this version does not use are reported, not fatal.
      expect(loaded.unusedKeys).toEqual(expect.arrayContaining(["memory.sqlalchemy", "tasks"]))
      expect(loaded.unusedKeys.some((k) => k.startsWith("channels"))).toBe(false)
    }))

  it.effect("config.example.toml documents every key and loads as it is", () =>
    Effect.gen(function*() {
      const text = fs.readFileSync(path.join(import.meta.dirname, "../../config.example.toml"), "utf8")
      const loaded = Either.getOrThrow(yield* parse(text, { TELEGRAM_BOT_TOKEN: "1:x", OPENAI_API_KEY: "sk-x" }))
      expect(loaded.unusedKeys).toEqual([])
      // Every key of the schema appears in the example (commented or not).
      const keys = (value: unknown, prefix = ""): Array<string> =>
        value !== null && typeof value === "object" && !Array.isArray(value)
          ? Object.entries(value).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k))
          : [prefix]
      const documented = (key: string) => new RegExp(`^#? ?${key.split(".").at(-1)} =`, "m").test(text)
      const missing = keys(loaded.config).filter((k) => !documented(k))
      expect(missing).toEqual([])
    }))

  it.effect("an unknown channel may exist only while disabled", () =>
    Effect.gen(function*() {
      expect(yield* problemsOf(`[channels.slack]\nenabled = false\nbot_token = ""\n`)).toEqual([])
      expect(yield* problemsOf(`[channels.slack]\nenabled = true\n`)).toEqual([
        "channels.slack.enabled: the slack channel is not supported by this version; set enabled = false"
      ])
    }))

  it.effect("cross-key rules: telegram needs a token, webhook mode needs a URL and the http server", () =>
    Effect.gen(function*() {
      expect(yield* problemsOf(`[channels.telegram]\nenabled = true\n`)).toEqual([
        expect.stringMatching(/^channels\.telegram\.bot_token: required/)
      ])
      const webhook = yield* problemsOf(`[channels.telegram]\nenabled = true\nbot_token = "1:x"\nmode = "webhook"\n`)
      expect(webhook).toEqual([
        expect.stringMatching(/^channels\.telegram\.webhook_url: required/),
        expect.stringMatching(/^http\.enabled: must be true/)
      ])
    }))

  it.effect("with no file, defaults plus the environment", () =>
    Effect.gen(function*() {
      const raw = Either.getOrThrow(configFromEnv({
        TELEGRAM_BOT_TOKEN: "42:token",
        OPENAI_API_KEY: "sk-env",
        OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
        MINIBOT_MODEL: "llama3",
        MINIBOT_ALLOWED_USER_IDS: "1, 2,3"
      }))
      expect(raw).toEqual({
        llm: { api_key: "sk-env", base_url: "http://127.0.0.1:11434/v1", model: "llama3" },
        channels: { telegram: { enabled: true, bot_token: "42:token", allowed_user_ids: [1, 2, 3] } }
      })
      expect(Either.getLeft(configFromEnv({ MINIBOT_ALLOWED_USER_IDS: "1,bob" }))).toEqual(Option.some([
        `MINIBOT_ALLOWED_USER_IDS: expected comma-separated numeric user ids, got "bob"`
      ]))
    }))

  it.effect("path order: --config, then MINIBOT_CONFIG; a named file that does not exist is an error", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const a = path.join(dir, "a.toml")
      const b = path.join(dir, "b.toml")
      fs.writeFileSync(a, `[llm]\nmodel = "from-flag"\n`)
      fs.writeFileSync(b, `[llm]\nmodel = "from-env"\n`)
      const fromFlag = yield* loadConfig(Option.some(a), { MINIBOT_CONFIG: b })
      expect(fromFlag.config.llm.model).toBe("from-flag")
      expect(fromFlag.source).toEqual(ConfigSource.File({ path: a }))
      const fromEnv = yield* loadConfig(Option.none(), { MINIBOT_CONFIG: b })
      expect(fromEnv.config.llm.model).toBe("from-env")

      const missing = yield* loadConfig(Option.some(path.join(dir, "nope.toml")), {}).pipe(Effect.flip)
      expect(missing.problems).toEqual(["config file not found (given by --config)"])
      const missingEnv = yield* loadConfig(Option.none(), { MINIBOT_CONFIG: path.join(dir, "nope.toml") }).pipe(
        Effect.flip
      )
      expect(missingEnv.problems).toEqual(["config file not found (given by MINIBOT_CONFIG)"])
    }).pipe(Effect.provide(NodeContext.layer)))
})
