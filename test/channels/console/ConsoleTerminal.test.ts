import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Stream } from "effect"
import { PassThrough } from "node:stream"
import { makeTerminal, thinkingText } from "../../../src/channels/console/ConsoleTerminal.ts"
import { screenOf } from "../../support/Screen.ts"

/** Stand-ins for stdin and stdout; `screen` collects everything written to the output. */
const fakeTty = (isTTY: boolean) => {
  const input = Object.assign(new PassThrough(), { isTTY })
  const output = Object.assign(new PassThrough(), { isTTY, columns: 80 })
  const state = { screen: "" }
  output.on("data", (d: Buffer) => (state.screen += d.toString()))
  return { input, output, state }
}

const visible = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")

const until = (check: () => boolean) =>
  Effect.promise(async () => {
    const deadline = Date.now() + 5_000
    while (!check()) {
      if (Date.now() > deadline) throw new Error("timed out")
      await new Promise((r) => setTimeout(r, 5))
    }
  })

describe("console terminal", () => {
  it.scopedLive("on a TTY, a text that arrives while the person types is printed above the prompt, which is redrawn", () =>
    Effect.gen(function*() {
      const tty = fakeTty(true)
      const terminal = makeTerminal(tty)
      const lines: Array<string> = []
      yield* terminal.lines.pipe(Stream.runForEach((l) => Effect.sync(() => lines.push(l))), Effect.forkScoped)
      yield* until(() => visible(tty.state.screen).endsWith("> "))

      tty.input.write("remi")
      yield* until(() => visible(tty.state.screen).endsWith("remi"))
      tty.state.screen = ""
      yield* terminal.print("Reminder: water the plants")
      // The line being typed is cleared first, then the text, then the prompt with what was typed.
      expect(tty.state.screen.startsWith("\x1b[2K\x1b[1GReminder: water the plants\n")).toBe(true)
      expect(visible(tty.state.screen).endsWith("> remi")).toBe(true)

      tty.input.write("nder\n")
      yield* until(() => lines.length === 1)
      expect(lines).toEqual(["reminder"])
    }))

  it.scopedLive("on a TTY, \"thinking...\" shows while the model works and gives way to the prompt after", () =>
    Effect.gen(function*() {
      const tty = fakeTty(true)
      const terminal = makeTerminal(tty)
      yield* terminal.lines.pipe(Stream.runDrain, Effect.forkScoped)
      yield* until(() => visible(tty.state.screen).endsWith("> "))
      const answered = yield* Deferred.make<string>()
      const turn = yield* terminal.whileThinking(Deferred.await(answered)).pipe(Effect.fork)
      yield* until(() => visible(tty.state.screen).endsWith(thinkingText))

      // A reminder meanwhile keeps the indicator below it.
      tty.state.screen = ""
      yield* terminal.print("Reminder")
      expect(visible(tty.state.screen)).toBe(`Reminder\n${thinkingText}`)

      tty.state.screen = ""
      yield* Deferred.succeed(answered, "the answer")
      expect(yield* Fiber.join(turn)).toBe("the answer")
      expect(visible(tty.state.screen)).toBe("> ")
    }))

  it.effect("when stdout is not a TTY, only the texts are written", () =>
    Effect.gen(function*() {
      const piped = fakeTty(false)
      const terminal = makeTerminal(piped)
      yield* terminal.whileThinking(terminal.print("one"))
      yield* terminal.print("two")
      expect(piped.state.screen).toBe("one\ntwo\n")
    }))

  it.scopedLive("a reminder due while a reply is written waits below it, never cut into it", () =>
    Effect.gen(function*() {
      const tty = fakeTty(true)
      const terminal = makeTerminal(tty)
      yield* terminal.lines.pipe(Stream.runDrain, Effect.forkScoped)
      yield* until(() => visible(tty.state.screen).endsWith("> "))
      const reply = yield* terminal.whileThinking(terminal.live).pipe(Effect.map(Option.getOrThrow))
      yield* reply.show({ kind: "text", text: "The first line.\nThe sec" })
      yield* terminal.print("Reminder: water the plants")
      expect(screenOf(tty.state.screen)).toEqual(["The first line.", "The sec"])

      yield* reply.show({ kind: "text", text: "The first line.\nThe second line.\n\n" })
      yield* reply.finish("The first line.\nThe second line.")
      // The final text is trimmed: the line breaks already printed at the stream's end are not printed again.
      expect(screenOf(tty.state.screen)).toEqual([
        "The first line.",
        "The second line.",
        "",
        "Reminder: water the plants",
        ">"
      ])
    }))

  it.scopedLive("a tool step's status takes the line being written; the answer after it reads whole", () =>
    Effect.gen(function*() {
      const tty = fakeTty(true)
      const terminal = makeTerminal(tty)
      yield* terminal.lines.pipe(Stream.runDrain, Effect.forkScoped)
      yield* until(() => visible(tty.state.screen).endsWith("> "))
      const reply = yield* terminal.live.pipe(Effect.map(Option.getOrThrow))
      yield* reply.show({ kind: "text", text: "Let me count" })
      yield* reply.show({ kind: "status", text: "Using calculator..." })
      expect(screenOf(tty.state.screen)).toEqual(["Using calculator..."])
      yield* reply.show({ kind: "text", text: "It is 42" })
      // One reply at a time is printed live; piped output never is.
      expect(Option.isNone(yield* terminal.live)).toBe(true)
      expect(Option.isNone(yield* makeTerminal(fakeTty(false)).live)).toBe(true)
      yield* reply.finish("It is 42.")
      expect(screenOf(tty.state.screen)).toEqual(["It is 42.", ">"])
    }))
})
