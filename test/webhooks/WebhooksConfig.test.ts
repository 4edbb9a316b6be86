/** `[[webhooks]]` in config.toml: every mistake is reported with its key path, and no secret is shown. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted } from "effect"
import { parseConfigText } from "../../src/config/ConfigLoader.ts"
import { eventKinds } from "../../src/webhooks/WebhookKinds.ts"

const problemsOf = (text: string, env: Record<string, string> = {}) =>
  Effect.map(
    Effect.either(parseConfigText(text, env, "config.toml")),
    (r) => (Either.isLeft(r) ? r.left.problems : [])
  )

const secret = "a-long-enough-webhook-secret-42"

describe("[[webhooks]] configuration", () => {
  it.effect("a valid entry loads with its defaults; the secret may come from the environment", () =>
    Effect.gen(function*() {
      const loaded = yield* parseConfigText(
        `[[webhooks]]\nurl = "https://hooks.example.com/minibot"\nevents = ["reply.sent", "inbound.received"]\n` +
          `secret = "\${HOOK_SECRET}"\n`,
        { HOOK_SECRET: secret },
        "config.toml"
      )
      const [webhook] = loaded.config.webhooks
      expect(webhook).toMatchObject({
        url: "https://hooks.example.com/minibot",
        events: ["reply.sent", "inbound.received"],
        allow_private_networks: false,
        timeout_seconds: 10
      })
      expect(Redacted.value(webhook!.secret)).toBe(secret)
      expect(String(webhook!.secret)).not.toContain(secret)
    }))

  it.effect("the kinds are those of the event stream", () =>
    Effect.sync(() => {
      expect(eventKinds).toEqual(expect.arrayContaining(["inbound.received", "reply.sent", "turn.failed"]))
    }))

  it.effect("each bad field is named: webhooks[i].field, webhooks[i].events[j]", () =>
    Effect.gen(function*() {
      const problems = yield* problemsOf(`
[[webhooks]]
url = "https://hooks.example.com/a"
events = ["reply.sent", "reply.snt", "nonsense.kind"]
secret = "${secret}"

[[webhooks]]
url = "ftp://hooks.example.com/b"
events = []
timeout_seconds = 0
`)
      expect(problems).toEqual(expect.arrayContaining([
        `webhooks[1].url: expected an http(s) URL, got "ftp://hooks.example.com/b"`,
        `webhooks[1].events: list at least one event kind (or "*" for all)`,
        "webhooks[1].secret: is required",
        "webhooks[1].timeout_seconds: expected a positive number, got 0"
      ]))

      const kinds = yield* problemsOf(`
[[webhooks]]
url = "https://hooks.example.com/a"
events = ["reply.sent", "reply.snt", "nonsense.kind"]
secret = "${secret}"

[[webhooks]]
url = "https://hooks.example.com/a"
events = ["*"]
secret = "short"
urll = "x"
`)
      expect(kinds).toEqual([`webhooks[1].urll: unknown key; did you mean "webhooks[1].url"?`])

      const rules = yield* problemsOf(`
[[webhooks]]
url = "https://hooks.example.com/a"
events = ["reply.sent", "reply.snt", "nonsense.kind"]
secret = "${secret}"

[[webhooks]]
url = "https://hooks.example.com/a"
events = ["*"]
secret = "short-secret"

[[webhooks]]
url = "https://user:hunter2-password@hooks.example.com/c"
events = ["*"]
secret = "${secret}"
`)
      expect(rules).toEqual([
        `webhooks[0].events[1]: unknown event kind "reply.snt"; did you mean "reply.sent"?`,
        expect.stringMatching(
          /^webhooks\[0\]\.events\[2\]: unknown event kind "nonsense\.kind" \(known: .*reply\.sent/
        ),
        "webhooks[1].url: the same URL as webhooks[0]; list its events there",
        expect.stringMatching(/^webhooks\[1\]\.secret: must be at least 16 characters/),
        "webhooks[2].url: credentials in the URL are not sent; put a token in the path or query instead"
      ])
      expect(rules.join("\n")).not.toContain("short-secret")
      expect(rules.join("\n")).not.toContain("hunter2")
    }))

  it.effect("a missing environment variable names the entry's key", () =>
    Effect.gen(function*() {
      expect(
        yield* problemsOf(`[[webhooks]]\nurl = "https://h.example.com"\nevents = ["*"]\nsecret = "\${NOPE}"\n`)
      ).toEqual(["webhooks[0].secret: environment variable NOPE is not set"])
    }))
})
