/**
 * The text of a PDF, off the event loop: a PDF is untrusted input (one built to be slow can keep
 * a parser busy for minutes), so it is read in its own worker thread with a memory limit, and
 * the worker is terminated when its time is up or the turn is interrupted. Only the first
 * `maxPages` pages are read.
 */
import { Data, Duration, Effect } from "effect"
import { Worker } from "node:worker_threads"

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

type WorkerReply = { ok: true; text: string; pages: number; total: number } | { ok: false; error: string }

export const extract = (bytes: Uint8Array, limits: PdfLimits): Effect.Effect<PdfContent, PdfTextError> => {
  const timeout = Duration.decode(limits.timeout)
  return Effect.async<PdfContent, PdfTextError>((resume) => {
    const worker = new Worker(workerUrl, {
      workerData: { bytes, maxPages: limits.maxPages },
      resourceLimits: { maxOldGenerationSizeMb: limits.maxMemoryMb, maxYoungGenerationSizeMb: 32 },
      // The parser's own warnings are not the daemon's: read and dropped.
      stdout: true,
      stderr: true
    })
    worker.stdout.resume()
    worker.stderr.resume()
    let settled = false
    const settle = (effect: Effect.Effect<PdfContent, PdfTextError>) => {
      if (settled) return
      settled = true
      resume(effect)
      void worker.terminate()
    }
    const failed = (message: string) => settle(Effect.fail(new PdfTextError({ message })))
    worker.once("message", (reply: WorkerReply) =>
      reply.ok
        ? settle(Effect.succeed({ text: reply.text, pages: reply.pages, total: reply.total }))
        : failed(`the PDF could not be read: ${reply.error}`))
    worker.once("error", (error: Error & { code?: string }) =>
      failed(
        error.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? `the PDF needs more than ${limits.maxMemoryMb} MB to read`
          : `the PDF could not be read: ${error.message}`
      ))
    worker.once("exit", () => failed("the PDF could not be read: the reader stopped"))
    return Effect.sync(() => {
      settled = true
      void worker.terminate()
    })
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new PdfTextError({ message: `the PDF could not be read within ${Duration.format(timeout)}` })
    })
  )
}
