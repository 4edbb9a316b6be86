import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { FakeLlm } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { startDaemon, texts } from "./harness.ts"

describe("Telegram on shutdown", () => {
  it.scopedLive("a turn that finishes within the grace period is delivered before the daemon has stopped", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make({ latencyMs: 1_500 })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* startDaemon(fake, llm)
        fake.pushText({ chatId: 42, userId: 42, text: "a slow question" })
        yield* Effect.promise(() => llm.waitFor((f) => f.completions().length === 1))
        // Closing the scope is SIGTERM: the turn is still waiting for the model.
      }))
      expect(texts(fake.sent)).toEqual(["echo: a slow question"])
    }))
})
