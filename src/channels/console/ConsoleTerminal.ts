/**
 * The terminal the console channel talks on: lines in from stdin, texts out on stdout. On a TTY
 * it keeps the screen tidy: a "thinking..." indicator while the model works, and a text that
 * arrives while the person is typing (a reminder) is printed above the prompt line, which is then
 * drawn again with what was typed so far. When stdout is not a TTY, nothing but the texts is
 * written, so piped output is exactly the replies.
 *
 * A reply printed while it is written (`live`, a TTY only) takes the indicator's place: the line
 * being written is the prompt line, and each line once complete (or once as wide as the screen) is
 * printed above it, like any text. Its final text then prints what is not on screen yet, so the
 * reply reads once, complete. Reminders wait until it is finished rather than cut into it.
 */
import { Effect, Layer, Option, type Scope, Stream } from "effect"
import * as readline from "node:readline"
import type { PreviewUpdate } from "../Outbound.ts"

const prompt = "> "
export const thinkingText = "thinking... "

/** The two ends of a terminal: stdin and stdout, or stand-ins in tests. */
export interface TerminalIo {
  readonly input: NodeJS.ReadableStream & { readonly isTTY?: boolean }
  readonly output: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number }
}

/** A reply printed while it is written: `show` its text so far (or a status), then `finish` with its final text. */
export interface LiveReply {
  readonly show: (update: PreviewUpdate) => Effect.Effect<void>
  readonly finish: (text: string) => Effect.Effect<void>
}

/** The reply being printed: `printed` characters of `text` are on lines above the prompt line. */
interface Live {
  text: string
  printed: number
  /** Our status line ("Using calculator..."), shown until the next text. */
  status: string | undefined
  /** Something was shown: the indicator has given way. */
  started: boolean
}

/**
 * What of the final `text` is not on screen yet, when `printed` (what the lines above show) is
 * where it starts; all of it when the reply went another way (a tool step, "Stopped.", an error).
 */
const unprinted = (text: string, printed: string): string => {
  if (text.startsWith(printed)) return text.slice(printed.length)
  // The final text is trimmed: line breaks printed at the stream's very end are not in it.
  const kept = printed.trimEnd()
  return text.startsWith(kept) && text.slice(kept.length).trim() === "" ? "" : text
}

export const makeTerminal = ({ input, output: out }: TerminalIo) => {
  /** The interface reading stdin as a terminal, while one is open. */
  let active: readline.Interface | undefined
  /** The indicator is on screen (drawn as the prompt when `active`, else on a line of its own). */
  let thinking = 0
  let live: Live | undefined
  /** Texts printed while a live reply is written: shown after it. */
  const held: Array<string> = []

  const clearLine = () => {
    readline.clearLine(out, 0)
    readline.cursorTo(out, 0)
  }

  /** What the prompt line shows instead of the prompt, if anything. */
  const indicator = (): string | undefined => {
    if (live?.started === true) return live.status ?? live.text.slice(live.printed)
    return thinking > 0 ? thinkingText : undefined
  }

  /** Draws the prompt (or the indicator) again, with what was typed so far. */
  const redraw = () => {
    const shown = indicator()
    if (active !== undefined) {
      active.setPrompt(shown ?? prompt)
      active.prompt(true)
    } else if (shown !== undefined && out.isTTY) {
      out.write(shown)
    }
  }

  /** Writes texts on lines of their own, above whatever the person is typing. */
  const above = (texts: ReadonlyArray<string>) => {
    if (out.isTTY) clearLine()
    for (const text of texts) out.write(text + "\n")
    if (out.isTTY || active !== undefined) redraw()
  }

  /** Prints a text on lines of its own, above whatever the person is typing (after a live reply). */
  const print = (text: string) =>
    Effect.sync(() => {
      if (live?.started === true) held.push(text)
      else above([text])
    })

  /** The lines of the live reply that are complete, or as wide as the screen, taken off its unprinted part. */
  const completeLines = (reply: Live): Array<string> => {
    const width = Math.max(20, (out.columns ?? 80) - 1)
    const lines: Array<string> = []
    for (;;) {
      const rest = reply.text.slice(reply.printed)
      const newline = rest.indexOf("\n")
      if (newline >= 0 && newline <= width) {
        lines.push(rest.slice(0, newline))
        reply.printed += newline + 1
      } else if (rest.length > width) {
        // Wrapped at the last space that fits, as a terminal would not.
        const space = rest.lastIndexOf(" ", width)
        lines.push(rest.slice(0, space > 0 ? space : width))
        reply.printed += space > 0 ? space + 1 : width
      } else {
        return lines
      }
    }
  }

  const show = (reply: Live, update: PreviewUpdate) =>
    Effect.sync(() => {
      if (live !== reply) return
      if (update.kind === "status") {
        Object.assign(reply, { text: "", printed: 0, status: update.text, started: true })
        return above([])
      }
      const text = update.text.trimStart()
      if (text === "" && !reply.started) return
      // A new step's text (after a tool ran) starts on a line of its own; a retried attempt goes on.
      if (!text.startsWith(reply.text.slice(0, reply.printed))) reply.printed = 0
      Object.assign(reply, { text, status: undefined, started: true })
      above(completeLines(reply))
    })

  /** Ends a live reply: the final text's unprinted part, then the texts held meanwhile. */
  const end = (reply: Live, final: string | undefined) => {
    if (live !== reply) return
    live = undefined
    const rest = final === undefined ? "" : unprinted(final, reply.text.slice(0, reply.printed))
    above([...(rest === "" ? [] : [rest]), ...held.splice(0)])
  }

  /**
   * A reply printed while it is written, until the scope closes; `None` when stdout is not a TTY
   * (piped output gets the final text alone) or another reply is being printed.
   */
  const liveReply: Effect.Effect<Option.Option<LiveReply>, never, Scope.Scope> = Effect.acquireRelease(
    Effect.sync(() => {
      if (!out.isTTY || live !== undefined) return Option.none<Live>()
      live = { text: "", printed: 0, status: undefined, started: false }
      return Option.some(live)
    }),
    Option.match({ onNone: () => Effect.void, onSome: (reply) => Effect.sync(() => end(reply, undefined)) })
  ).pipe(
    Effect.map(Option.map((reply): LiveReply => ({
      show: (update) => show(reply, update),
      finish: (text) => Effect.sync(() => end(reply, text))
    })))
  )

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
            rl.on("line", (line: string) => {
              // Enter left the indicator (or the line being written) with what was typed on a line of
              // the screen: that line shows what was typed, as after the prompt.
              const echoed = rl.getPrompt()
              if (echoed === prompt || !out.isTTY) return
              readline.moveCursor(out, 0, -Math.ceil(Math.max(1, echoed.length + line.length) / (out.columns ?? 80)))
              readline.clearScreenDown(out)
              above([prompt + line])
            })
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

  return { lines, print, whileThinking, live: liveReply } as const
}

export class ConsoleTerminal extends Effect.Service<ConsoleTerminal>()("minibot/ConsoleTerminal", {
  sync: () => makeTerminal({ input: process.stdin, output: process.stdout })
}) {
  /** A terminal on other streams (tests). */
  static readonly on = (io: TerminalIo) => Layer.succeed(ConsoleTerminal, new ConsoleTerminal(makeTerminal(io)))
}
