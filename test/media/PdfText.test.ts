import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import * as PdfText from "../../src/media/PdfText.ts"
import { makePdf } from "../support/Pdf.ts"

const limits = { timeout: "20 seconds", maxPages: 50, maxMemoryMb: 256 } as const

describe("PdfText", () => {
  it.live("reads the text of each page, and only the first maxPages", () =>
    Effect.gen(function*() {
      const pdf = makePdf(["First page text", "Second page text", "Third page text"])
      const all = yield* PdfText.extract(pdf, limits)
      expect(all).toMatchObject({ pages: 3, total: 3 })
      expect(all.text).toContain("First page text")
      expect(all.text).toContain("Third page text")
      const first = yield* PdfText.extract(pdf, { ...limits, maxPages: 1 })
      expect(first).toMatchObject({ pages: 1, total: 3 })
      expect(first.text).not.toContain("Second page")
    }))

  it.live("a file that is not a PDF, or one that takes too long, is an error, not a hang", () =>
    Effect.gen(function*() {
      const garbage = yield* Effect.exit(PdfText.extract(new TextEncoder().encode("not a pdf at all"), limits))
      expect(Exit.isFailure(garbage)).toBe(true)
      expect(JSON.stringify(garbage)).toContain("the PDF could not be read")
      const slow = yield* Effect.flip(PdfText.extract(makePdf(["text"]), { ...limits, timeout: "1 millis" }))
      expect(slow.message).toBe("the PDF could not be read within 1ms")
    }))
})
