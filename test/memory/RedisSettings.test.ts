/** `[memory.redis]` as the config loader and the logs see it: named errors, the password never shown. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Logger } from "effect"
import { makeConfig } from "../../src/config/Config.ts"
import { parseConfigText } from "../../src/config/ConfigLoader.ts"
import * as Logging from "../../src/observability/Logging.ts"

const problemsOf = (text: string) =>
  parseConfigText(text, {}, "config.toml").pipe(
    Effect.either,
    Effect.map((r) => (Either.isLeft(r) ? r.left.problems : []))
  )

describe("[memory.redis] settings", () => {
  it.effect("each mistake names its key; a URL with a password is never echoed", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`
[memory]
backend = "redis"
[memory.redis]
url = "http://:Redis-Pass-77@cache:6379"
ttl_seconds = 0
key_prefx = "bot:"
`)
      expect(problems).toEqual(expect.arrayContaining([
        "memory.redis.url: expected a redis:// or rediss:// URL, got a URL starting with http://",
        expect.stringMatching(/^memory\.redis\.ttl_seconds: /),
        "memory.redis.key_prefx: unknown key; did you mean \"memory.redis.key_prefix\"?"
      ]))
      expect(problems.join("\n")).not.toContain("Redis-Pass-77")
      expect(yield* problemsOf(`[memory]\nbackend = "redis"\n[memory.redis]\nurl = "rediss://cache:6380/2"\n`))
        .toEqual([])
    }))

  it.effect("the password, given alone or inside the URL, is masked in every log line", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logWith = (config: ReturnType<typeof makeConfig>, text: string) =>
        Effect.logWarning(text).pipe(Effect.provide(Logger.replace(
          Logger.defaultLogger,
          Logging.lineLogger({ format: "logfmt", serviceName: "minibot", secrets: Logging.configSecrets(config) }).pipe(
            Logger.map((line) => void lines.push(line))
          )
        )))
      yield* logWith(makeConfig({ memory: { redis: { password: "alone-Pass-1" } } }), "AUTH alone-Pass-1 refused")
      yield* logWith(
        makeConfig({ memory: { redis: { url: "redis://user:in%2Furl-Pass@cache:6379" } } }),
        "cannot reach redis://user:in%2Furl-Pass@cache:6379 (password in/url-Pass)"
      )
      const all = lines.join("\n")
      expect(lines).toHaveLength(2)
      expect(all).not.toContain("alone-Pass-1")
      expect(all).not.toContain("in%2Furl-Pass")
      expect(all).not.toContain("in/url-Pass")
    }))
})
