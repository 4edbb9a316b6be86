import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { loadConfig, parseConfigText, runProblems } from "../../src/config/ConfigLoader.ts"
import { tempDir } from "../support/Harness.ts"

const problemsOf = (text: string, env: Record<string, string> = {}) =>
  Effect.map(
    Effect.either(parseConfigText(text, env, "config.toml")),
    (r) => (Either.isLeft(r) ? r.left.problems : [])
  )

const load = (text: string | Uint8Array, env: Record<string, string> = {}) => {
  const file = path.join(tempDir(), "config.toml")
  fs.writeFileSync(file, text)
  return loadConfig(Option.some(file), env).pipe(Effect.provide(NodeContext.layer))
}

describe("config mistakes explain themselves", () => {
  it.effect("a misspelt key is an error that suggests the right one", () =>
    Effect.gen(function*() {
      expect(yield* problemsOf(`[llm]\nmodle = "llama3"\n`)).toEqual([
        `llm.modle: unknown key; did you mean "llm.model"?`
      ])
      expect(yield* problemsOf(`[tools.http_client]\nenabeld = true\n`)).toEqual([
        `tools.http_client.enabeld: unknown key; did you mean "tools.http_client.enabled"?`
      ])
      const far = yield* problemsOf(`[http]\nwhatever = 1\n`)
      expect(far).toEqual([
        `http.whatever: unknown key (known here: enabled, host, port, api_token, api, public_metrics)`
      ])
    }))

  it.effect("a time zone Intl does not know names its key; canonical names and aliases are accepted", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`[runtime]\ntimezone = "Mars/Olympus_Mons"\n`)
      expect(problems).toHaveLength(1)
      expect(problems[0]).toMatch(/^runtime\.timezone: expected an IANA time zone/)
      for (const zone of ["UTC", "Europe/Madrid", "Asia/Kolkata", "US/Eastern", "Etc/GMT+5"]) {
        expect(yield* problemsOf(`[runtime]\ntimezone = "${zone}"\n[scheduler]\ntimezone = "${zone}"\n`)).toEqual([])
      }
    }))

  it.effect("streaming settings name the key and what is allowed", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(
        `[channels.telegram]\nstreaming = "sometimes"\nstreaming_interval_ms = 10\n`
      )
      expect(problems).toHaveLength(2)
      expect(problems[0]).toMatch(/^channels\.telegram\.streaming: .*"auto".*"draft".*"edit".*"off"/)
      expect(problems[1]).toMatch(/^channels\.telegram\.streaming_interval_ms: /)
    }))

  it.effect("[channel.telegram] (a section close to a known one) is an error with a suggestion", () =>
    Effect.gen(function*() {
      expect(yield* problemsOf(`[channel.telegram]\nenabled = true\nbot_token = "1:x"\n`)).toEqual([
        `channel: unknown section; did you mean "channels"?`
      ])
      expect(yield* problemsOf(`[channels.telgram]\nenabled = true\n`)).toEqual([
        `channels.telgram: unknown channel; did you mean "channels.telegram"?`
      ])
    }))

  it.effect("media settings: a wrong vision, language or limit names its key", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`
[llm]
vision = "sometimes"
[llm.transcription]
language = "English"
base_url = "speech-server"
[llm.media]
max_image_bytes = 0
`)
      expect(problems.map((p) => p.split(":")[0])).toEqual(expect.arrayContaining([
        "llm.vision",
        "llm.transcription.language",
        "llm.transcription.base_url",
        "llm.media.max_image_bytes"
      ]))
      expect(problems.find((p) => p.startsWith("llm.transcription.language"))).toContain("language code")
      expect(problems).toHaveLength(4)
    }))

  it.effect("api_root, base_url and webhook_url must be http(s) URLs; the error names the key", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`
[channels.telegram]
api_root = "definitely not a url"
webhook_url = "ftp://example.com/hook"
[llm]
base_url = "localhost:11434"
`)
      expect(problems).toEqual(expect.arrayContaining([
        `channels.telegram.api_root: expected an http(s) URL, got "definitely not a url"`,
        `channels.telegram.webhook_url: expected an http(s) URL, got "ftp://example.com/hook"`,
        `llm.base_url: expected an http(s) URL, got "localhost:11434"`
      ]))
      expect(problems).toHaveLength(3)
    }))

  it.effect("a file that is not UTF-8 is an error naming the line", () =>
    Effect.gen(function*() {
      const bytes = Buffer.concat([Buffer.from(`[llm]\nmodel = "caf`), Buffer.from([0xe9]), Buffer.from(`"\n`)])
      const error = yield* Effect.flip(load(bytes))
      expect(error.problems).toEqual(["line 2: the file is not valid UTF-8; save it as UTF-8"])
      const ok = yield* load(`[llm]\nmodel = "café"\n`)
      expect(ok.config.llm.model).toBe("café")
    }))

  it.effect("merge_window_ms and max_context_tokens out of range: the error names the key", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(
        `[channels.telegram]\nmerge_window_ms = -5\n[llm.context]\nmax_context_tokens = 10\n`
      )
      expect(problems).toHaveLength(2)
      expect(problems[0]).toMatch(/^channels\.telegram\.merge_window_ms: .*-5/)
      expect(problems[1]).toMatch(/^llm\.context\.max_context_tokens: .*10/)
    }))

  it.effect("an oversized value is shortened in the message", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`[llm]\nbase_url = "${"a".repeat(1_000_000)}"\n`)
      expect(problems).toHaveLength(1)
      expect(problems[0]).toMatch(/^llm\.base_url: expected an http\(s\) URL, got "aaa.*… \(\d+ characters\)$/)
      expect(problems[0]!.length).toBeLessThan(400)
    }))

  it.effect("no configuration error prints a secret, whatever its shape", () =>
    Effect.gen(function*() {
      const token = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
      const key = "sk-proj-Abcdefghijklmnopqrstuvwxyz0123"
      const pgPassword = "pg-Very-Secret-99"
      const problems = yield* problemsOf(`
[channels.telegram]
bot_token = ["${token}"]
webhook_secret = { value = "hook-Secret-123" }
[llm]
api_key = { key = "${key}" }
[storage]
postgres_url = ["postgres://u:${pgPassword}@db/minibot"]
`)
      const text = problems.join("\n")
      expect(problems).toEqual(expect.arrayContaining([
        "channels.telegram.bot_token: expected string, got an array",
        "channels.telegram.webhook_secret: expected string, got a table",
        "llm.api_key: expected string, got a table",
        "storage.postgres_url: expected string, got an array"
      ]))
      for (const secret of [token, token.split(":")[1]!, key, pgPassword, "hook-Secret-123"]) {
        expect(text).not.toContain(secret)
      }
      // A key pasted into base_url, given elsewhere too or not at all.
      const pasted = [
        ...(yield* problemsOf(`[llm]\napi_key = "${key}"\nbase_url = "${key}"\n`)),
        ...(yield* problemsOf(`[llm]\nbase_url = "${key}"\n`)),
        ...(yield* problemsOf(`[llm]\nbase_url = "\${OPENAI_API_KEY}"\n`, { OPENAI_API_KEY: "local-Key-4242" }))
      ]
      expect(pasted).toHaveLength(3)
      for (const line of pasted) expect(line).toMatch(/^llm\.base_url: expected an http\(s\) URL, got "<redacted>"$/)
    }))
})

describe("environment and file", () => {
  it.effect("environment variables override the file's values", () =>
    Effect.gen(function*() {
      const loaded = yield* load(
        `[llm]\nmodel = "from-file"\napi_key = "sk-file"\n[http]\nport = 8080\n[channels.telegram]\ndm_policy = "allowlist"\n`,
        {
          MINIBOT_MODEL: "from-env",
          OPENAI_API_KEY: "sk-env",
          MINIBOT_HTTP_ENABLED: "true",
          MINIBOT_HTTP_HOST: "0.0.0.0",
          MINIBOT_HTTP_PORT: "9100",
          MINIBOT_TELEGRAM_API_ROOT: "http://127.0.0.1:8081",
          MINIBOT_DM_POLICY: "pairing"
        }
      )
      expect(loaded.config.llm.model).toBe("from-env")
      expect(Redacted.value(loaded.config.llm.api_key!)).toBe("sk-env")
      expect(loaded.config.http).toMatchObject({ enabled: true, host: "0.0.0.0", port: 9100 })
      expect(loaded.config.channels.telegram.api_root).toBe("http://127.0.0.1:8081")
      expect(loaded.config.channels.telegram.dm_policy).toBe("pairing")
      // With a file, a token in the environment does not enable a channel the file left off.
      expect(loaded.config.channels.telegram.enabled).toBe(false)
      expect(loaded.environment.map((e) => e.variable)).toContain("MINIBOT_HTTP_PORT")
    }))

  it.effect("without a file, the environment gives [http], api_root and dm_policy too", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      // Run from an empty directory, so no ./config.toml is found.
      const inDir = Effect.acquireRelease(
        Effect.sync(() => {
          const before = process.cwd()
          process.chdir(dir)
          return before
        }),
        (before) => Effect.sync(() => process.chdir(before))
      )
      const loaded = yield* Effect.provide(
        Effect.zipRight(
          inDir,
          Effect.suspend(() =>
            loadConfig(Option.none(), {
              TELEGRAM_BOT_TOKEN: "1:x",
              MINIBOT_HTTP_ENABLED: "1",
              MINIBOT_HTTP_PORT: "9101",
              MINIBOT_TELEGRAM_API_ROOT: "http://127.0.0.1:8081",
              MINIBOT_DM_POLICY: "pairing"
            })
          )
        ),
        NodeContext.layer
      ).pipe(Effect.scoped)
      expect(loaded.config.channels.telegram.enabled).toBe(true)
      expect(loaded.config.http).toMatchObject({ enabled: true, port: 9101 })
      expect(loaded.config.channels.telegram.dm_policy).toBe("pairing")
    }))

  it.effect("the API's switch and token from the environment (the Docker image's settings)", () =>
    Effect.gen(function*() {
      const off = yield* load(`[http]\napi = true\n`, { MINIBOT_HTTP_API: "false", MINIBOT_HTTP_HOST: "0.0.0.0" })
      expect(off.config.http).toMatchObject({ api: false, host: "0.0.0.0" })
      const on = yield* load(`[http]\n`, { MINIBOT_HTTP_API: "true", MINIBOT_HTTP_API_TOKEN: "a-long-api-token" })
      expect(on.config.http.api).toBe(true)
      expect(Redacted.value(on.config.http.api_token!)).toBe("a-long-api-token")
      expect(yield* problemsOf(`[http]\n`, { MINIBOT_HTTP_API: "maybe" })).toEqual([
        `MINIBOT_HTTP_API: expected true or false, got "maybe"`
      ])
    }))

  it.effect("a bad variable is named in the error", () =>
    Effect.gen(function*() {
      expect(yield* problemsOf(`[http]\n`, { MINIBOT_HTTP_PORT: "http" })).toEqual([
        `MINIBOT_HTTP_PORT: expected a port number, got "http"`
      ])
      expect(yield* problemsOf(`[http]\n`, { MINIBOT_HTTP_PORT: "99999" })).toEqual([
        expect.stringMatching(/^http\.port \(from MINIBOT_HTTP_PORT\): /)
      ])
    }))

  it.effect("config.example.toml starts once its variables are set", () =>
    Effect.gen(function*() {
      const text = fs.readFileSync(path.join(import.meta.dirname, "../../config.example.toml"), "utf8")
      const loaded = yield* parseConfigText(text, { TELEGRAM_BOT_TOKEN: "1:x", OPENAI_API_KEY: "sk-x" }, "example")
      expect(runProblems(loaded.config)).toEqual([])
    }))

  it.effect("a local LLM server needs no API key; the hosted API does", () =>
    Effect.gen(function*() {
      const local = yield* parseConfigText(
        `[channels.console]\nenabled = true\n[llm]\nbase_url = "http://127.0.0.1:11434/v1"\n`,
        {},
        "local"
      )
      expect(local.config.llm.api_key).toBeUndefined()
      expect(runProblems(local.config)).toEqual([])
      const hosted = yield* parseConfigText(`[channels.console]\nenabled = true\n`, {}, "hosted")
      expect(runProblems(hosted.config)).toEqual([expect.stringMatching(/^llm\.api_key: required with the hosted/)])
    }))
})
