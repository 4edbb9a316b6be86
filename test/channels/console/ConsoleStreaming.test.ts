/**
 * The console channel over the real runtime and the loopback fake LLM streaming its answers, on a
 * stand-in terminal: what the screen shows while a reply is written and after it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { PassThrough } from "node:stream"
import * as Layers from "../../../src/app/Layers.ts"
import { chat, ConsoleChannel, senderOn } from "../../../src/channels/console/ConsoleChannel.ts"
import { ConsoleTerminal } from "../../../src/channels/console/ConsoleTerminal.ts"
import { notEnabled, TelegramOut } from "../../../src/channels/Outbound.ts"
import { AppConfig, makeConfig } from "../../../src/config/Config.ts"
import { Llm } from "../../../src/llm/Llm.ts"
import * as Database from "../../../src/storage/Database.ts"
import { fakeLlmSection, type FakeLlmServer, startFakeLlm } from "../../support/FakeLlm.ts"
import { tempDir } from "../../support/Harness.ts"
import { screenOf } from "../../support/Screen.ts"
import { eventually } from "../../support/Wait.ts"

const answer = "First line of the answer.\nSecond line, a little longer than the first one.\nThird line ends it."

const fakeLlm = Effect.acquireRelease(Effect.promise(() => startFakeLlm()), (fake) => Effect.promise(fake.close))

/** `minibot console` on a stand-in terminal: `type` writes to its input, `screen` is what its output shows. */
const session = (fake: FakeLlmServer, tty: boolean) =>
  Effect.gen(function*() {
    const input = Object.assign(new PassThrough(), { isTTY: tty })
    const output = Object.assign(new PassThrough(), { isTTY: tty, columns: 80 })
    let written = ""
    output.on("data", (d: Buffer) => (written += d.toString()))
    const config = makeConfig({
      runtime: { data_dir: tempDir() },
      llm: fakeLlmSection(fake, { request_timeout_seconds: 30 })
    })
    const layer = ConsoleChannel.Default.pipe(
      Layer.provideMerge(Layers.runtimeWith(Llm.openai)),
      Layer.provideMerge(
        Layer.merge(senderOn(ConsoleTerminal.on({ input, output })), Layer.succeed(TelegramOut, notEnabled("telegram")))
      ),
      Layer.provideMerge(Database.unlocked(config)),
      Layer.provideMerge(AppConfig.layer(config)),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
    )
    const context = yield* Layer.build(layer)
    const terminal = yield* Effect.provide(ConsoleTerminal, context)
    yield* chat(terminal.lines, "local").pipe(Effect.provide(context), Effect.forkScoped)
    return {
      type: (text: string) => Effect.sync(() => input.write(text)),
      written: () => written,
      screen: () => screenOf(written),
      until: (check: (screen: Array<string>) => boolean, what: string) =>
        eventually(
          () => check(screenOf(written)),
          () => `${what}; the screen shows ${JSON.stringify(screenOf(written))}`
        )
    }
  })

describe("console: streamed replies", () => {
  it.scopedLive("on a TTY the reply appears while the model writes it, in place of \"thinking...\", and reads once when done", () =>
    Effect.gen(function*() {
      const fake = yield* fakeLlm
      fake.script(() => ({ content: answer, tokenDelayMs: 150 }))
      const console = yield* session(fake, true)
      yield* console.until((s) => s.at(-1) === ">", "the prompt")
      yield* console.type("hello\n")

      yield* console.until((s) => s.includes("First line of the answer."), "the first line of the reply")
      // The model is still writing: the stream has not ended.
      expect(fake.completions()[0]!.status).toBeUndefined()
      expect(console.screen().join("\n")).not.toContain("thinking")
      expect(console.screen().join("\n")).not.toContain("Third line")

      yield* console.until((s) => s.at(-1) === ">" && s.length > 2, "the prompt after the reply")
      expect(console.screen()).toEqual(["> hello", ...answer.split("\n"), ">"])
      expect(fake.completions()[0]!.body.stream).toBe(true)
    }))

  it.scopedLive("/stop while the reply is written: the half line goes, \"Stopped.\" ends it", () =>
    Effect.gen(function*() {
      const fake = yield* fakeLlm
      const long = `Line one of a long answer.\n${Array.from({ length: 200 }, (_, i) => `w${i}`).join(" ")}`
      fake.script(() => ({ content: long, tokenDelayMs: 100 }))
      const console = yield* session(fake, true)
      yield* console.until((s) => s.at(-1) === ">", "the prompt")
      yield* console.type("think hard\n")
      yield* console.until(
        (s) => s.includes("Line one of a long answer.") && /w2/.test(s.at(-1)!),
        "the reply under way"
      )

      yield* console.type("/stop\n")
      yield* console.until((s) => s.includes("Stopped.") && s.at(-1) === ">", "Stopped.")
      expect(console.screen()).toEqual(["> think hard", "Line one of a long answer.", "> /stop", "Stopped.", ">"])
      yield* eventually(() => fake.completions()[0]!.aborted, "the model's request aborted")

      // The next line is answered as usual.
      fake.script(() => ({ content: "fine", tokenDelayMs: 10 }))
      yield* console.type("next\n")
      yield* console.until((s) => s.at(-2) === "fine", "the next reply")
      expect(console.screen().slice(-3)).toEqual(["> next", "fine", ">"])
    }))

  it.scopedLive("when the output is not a TTY, only the final text is written, once", () =>
    Effect.gen(function*() {
      const fake = yield* fakeLlm
      fake.script(() => ({ content: answer, tokenDelayMs: 20 }))
      const console = yield* session(fake, false)
      yield* console.type("hello\n")
      yield* eventually(() => console.written().length > 0, "the reply")
      yield* console.type("again\n")
      yield* eventually(() => console.written().length > answer.length + 1, "the second reply")
      expect(console.written()).toBe(`${answer}\n${answer}\n`)
    }))
})
