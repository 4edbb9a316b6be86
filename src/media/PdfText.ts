/**
 * The text of a PDF, off the event loop: a PDF is untrusted input (one built to be slow can keep
 * a parser busy for minutes), so it is read in its own worker thread with a memory limit, and
 * the worker is terminated when its time is up or the turn is interrupted. Only the first
 * `maxPages` pages are read.
 */
import { Data, type Duration, Effect } from "effect"
import * as OneShotWorker from "../workers/OneShotWorker.ts"

export interface PdfLimits {
  readonly timeout: Duration.DurationInput
  readonly maxPages: number
  readonly maxMemoryMb: number
}

export interface PdfContent {
  readonly text: string
  /** Pages read, and pages in the file. */
  readonly pages: number
  readonly total: number
}

export class PdfTextError extends Data.TaggedError("PdfTextError")<{ readonly message: string }> {}

/**
 * From the sources (tests, `tsx`) the worker is the `.mjs` beside this file; in the daemon's
 * bundle (dist/main.js) it is dist/pdf-text-worker.js, which `scripts/build.mjs` emits.
 */
const workerUrl = new URL(
  import.meta.url.endsWith(".ts") ? "./PdfTextWorker.mjs" : "./pdf-text-worker.js",
  import.meta.url
)

/** Reads the text of the PDF's first `maxPages` pages. */
export const extract = (bytes: Uint8Array, limits: PdfLimits): Effect.Effect<PdfContent, PdfTextError> =>
  OneShotWorker.run<PdfContent>(workerUrl, { bytes, maxPages: limits.maxPages }, limits).pipe(
    Effect.map(({ pages, text, total }) => ({ text, pages, total })),
    Effect.mapError((failure) =>
      new PdfTextError({
        message: failure.reason === "out_of_memory"
          ? `the PDF needs more than ${limits.maxMemoryMb} MB to read`
          : failure.reason === "timeout"
          ? `the PDF could not be read ${failure.detail}`
          : failure.reason === "stopped"
          ? "the PDF could not be read: the reader stopped"
          : `the PDF could not be read: ${failure.detail}`
      })
    )
  )
