/**
 * The terminal the console channel talks on: lines in from stdin, texts out on stdout. On a TTY
 * it keeps the screen tidy: a "thinking..." indicator while the model works, and a text that
 * arrives while the person is typing (a reminder) is printed above the prompt line, which is then
 * drawn again with what was typed so far. When stdout is not a TTY, nothing but the texts is
 * written, so piped output is exactly the replies.
 */
import { Effect, Layer, Stream } from "effect"
import * as readline from "node:readline"

const prompt = "> "
export const thinkingText = "thinking... "

/** The two ends of a terminal: stdin and stdout, or stand-ins in tests. */
export interface TerminalIo {
  readonly input: NodeJS.ReadableStream & { readonly isTTY?: boolean }
  readonly output: NodeJS.WritableStream & { readonly isTTY?: boolean }
}

export const makeTerminal = ({ input, output: out }: TerminalIo) => {
  /** The interface reading stdin as a terminal, while one is open. */
  let active: readline.Interface | undefined
  /** The indicator is on screen (drawn as the prompt when `active`, else on a line of its own). */
  let thinking = 0

  const clearLine = () => {
    readline.clearLine(out, 0)
    readline.cursorTo(out, 0)
  }

  /** Draws the prompt (or the indicator) again, with what was typed so far. */
  const redraw = () => {
    if (active !== undefined) {
      active.setPrompt(thinking > 0 ? thinkingText : prompt)
      active.prompt(true)
    } else if (thinking > 0 && out.isTTY) {
      out.write(thinkingText)
    }
  }

  /** Prints a text on lines of its own, above whatever the person is typing. */
  const print = (text: string) =>
    Effect.sync(() => {
      if (out.isTTY) clearLine()
      out.write(text + "\n")
      if (out.isTTY || active !== undefined) redraw()
    })

  /** Shows the indicator while `effect` runs (on a TTY only). */
  const whileThinking = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    out.isTTY
      ? Effect.acquireUseRelease(
        Effect.sync(() => {
          thinking++
          clearLine()
          redraw()
        }),
        () => effect,
        () =>
          Effect.sync(() => {
            thinking--
            clearLine()
            redraw()
          })
      )
      : effect

  /** Lines of standard input; a prompt is shown when it is a terminal. */
  const lines: Stream.Stream<string> = Stream.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => {
          const rl = readline.createInterface({
            input,
            output: out,
            terminal: input.isTTY === true
          })
          if (input.isTTY === true) {
            active = rl
            redraw()
          }
          return rl
        }),
        (rl) =>
          Effect.sync(() => {
            if (active === rl) active = undefined
            rl.close()
          })
      ),
      (rl) => Stream.fromAsyncIterable(rl, (e) => e).pipe(Stream.orDie)
    )
  )

  return { lines, print, whileThinking } as const
}

export class ConsoleTerminal extends Effect.Service<ConsoleTerminal>()("minibot/ConsoleTerminal", {
  sync: () => makeTerminal({ input: process.stdin, output: process.stdout })
}) {
  /** A terminal on other streams (tests). */
  static readonly on = (io: TerminalIo) => Layer.succeed(ConsoleTerminal, new ConsoleTerminal(makeTerminal(io)))
}
