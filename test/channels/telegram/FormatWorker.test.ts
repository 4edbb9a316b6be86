import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber } from "effect"
import {
  FormatWorker,
  inThreadMaxChars,
  isSmallAndSimple,
  maxMarkdownChars
} from "../../../src/channels/telegram/FormatWorker.ts"
import { formatForTelegram, splitPlainText } from "../../../src/channels/telegram/TelegramFormat.ts"

const table = (rows: number) =>
  "| a | b |\n|---|---|\n" + Array.from({ length: rows }, (_, i) => `| ${i} | v${i} |`).join("\n")

describe("FormatWorker: the model's Markdown rendered off the event loop", () => {
  it.scopedLive("an ordinary answer is rendered to Telegram HTML", () =>
    Effect.gen(function*() {
      const worker = yield* FormatWorker
      const chunks = yield* worker.render("**bold** and `code`")
      expect(chunks).toEqual([{ html: "<b>bold</b> and <code>code</code>", plain: "bold and code" }])
    }).pipe(Effect.provide(FormatWorker.Default)))

  it.scopedLive("short answers (rendered in the thread) and longer ones (in a worker) come out the same", () =>
    Effect.gen(function*() {
      const worker = yield* FormatWorker
      const paragraph = "A **bold** claim, some `code` and a [link](https://example.org).\n\n"
      const short = paragraph.repeat(2)
      const long = paragraph.repeat(Math.ceil((inThreadMaxChars + 1) / paragraph.length))
      const marked = "*a* ".repeat(100)
      expect([short, long, marked].map(isSmallAndSimple)).toEqual([true, false, false])
      for (const markdown of [short, long, marked]) {
        expect(yield* worker.render(markdown)).toEqual(formatForTelegram(markdown))
      }
    }).pipe(Effect.provide(FormatWorker.Default)))

  it.scopedLive(
    "hostile answers end in chunks or a RenderError, never a crash; the renderer keeps working",
    () =>
      Effect.gen(function*() {
        const worker = yield* FormatWorker
        const hostile = {
          "150,000-row table": table(150_000),
          "10,000-row table": table(10_000),
          "100,000 nested quotes": ">".repeat(100_000) + " deep",
          "100,000 list levels": Array.from({ length: 3_000 }, (_, i) => " ".repeat(i * 2) + "- item").join("\n"),
          "90,000 brackets": "[".repeat(90_000) + "x"
        }
        for (const [name, markdown] of Object.entries(hostile)) {
          const result = yield* Effect.either(worker.render(markdown))
          if (Either.isLeft(result)) expect(result.left.reason, name).toMatch(/longer than|needed more than|failed/)
        }
        const refused = yield* Effect.either(worker.render(table(150_000)))
        expect(Either.isLeft(refused) && refused.left.reason).toBe(
          `the answer is longer than ${maxMarkdownChars} characters`
        )
        expect(yield* worker.render("still **fine**")).toEqual([{ html: "still <b>fine</b>", plain: "still fine" }])
      }).pipe(Effect.provide(FormatWorker.Default)),
    60_000
  )

  it.scopedLive(
    "while an answer built to be slow is rendered, another answer and the event loop go on",
    () =>
      Effect.gen(function*() {
        const worker = yield* FormatWorker
        const slow = yield* Effect.fork(Effect.either(worker.render("[".repeat(90_000) + "x")))
        // A timer on the main thread fires, and another conversation's answer is rendered, while it is still running.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
        const other = yield* worker.render("the *other* answer")
        expect(other).toEqual([{ html: "the <i>other</i> answer", plain: "the other answer" }])
        expect(yield* Fiber.poll(slow)).toEqual(expect.objectContaining({ _tag: "None" }))
        yield* Fiber.join(slow)
      }).pipe(Effect.provide(FormatWorker.Default)),
    60_000
  )

  it("plain text of any size is cut within the limit, at a line break or space, never inside a surrogate pair", () => {
    const text = "word ".repeat(30_000) + "😀".repeat(5_000)
    const pieces = splitPlainText(text)
    expect(pieces.every((p) => p.length <= 4096)).toBe(true)
    expect(pieces.join("").replace(/\s/g, "")).toBe(text.replace(/\s/g, ""))
    expect(pieces.some((p) => /^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(p))).toBe(false)
  })
})
