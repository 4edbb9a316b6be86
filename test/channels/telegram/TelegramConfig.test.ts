import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseConfigText } from "../../../src/config/ConfigLoader.ts"

const webhookConfig = (secret: string) => `
[http]
enabled = true
[channels.telegram]
enabled = true
bot_token = "123:abc"
mode = "webhook"
webhook_url = "https://bot.example.com/telegram/webhook"
webhook_secret = "${secret}"
`

describe("[channels.telegram] configuration", () => {
  it.effect("a webhook secret Telegram would refuse is reported when the config is loaded", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(parseConfigText(webhookConfig("has spaces & symbols!"), {}, "config.toml"))
      expect(error.problems).toEqual([
        "channels.telegram.webhook_secret: Telegram accepts 1 to 256 characters of A-Z, a-z, 0-9, _ and -"
      ])
      const ok = yield* parseConfigText(webhookConfig("Good_secret-123"), {}, "config.toml")
      expect(ok.config.channels.telegram.mode).toBe("webhook")
    }))
})
