/**
 * HTML to text for pages fetched from the web, off the event loop: a page built to be slow (tens
 * of thousands of nested tags take seconds and overflow the stack) runs in its own worker thread
 * with a memory limit, and is terminated when its time is up, so no other conversation waits for
 * it. Interruption (a tool timeout, a stopped turn) terminates the worker too.
 */
import { Data, Duration, Effect } from "effect"
import { Worker } from "node:worker_threads"

export interface HtmlToTextLimits {
  readonly timeout: Duration.DurationInput
  readonly maxMemoryMb: number
}

export class HtmlToTextError extends Data.TaggedError("HtmlToTextError")<{ readonly message: string }> {}

/** DOM depth below which content is left out (and recursion stops). */
const maxDepth = 256

/**
 * From the sources (tests, `tsx`) the worker is the `.mjs` beside this file; in the daemon's
 * bundle (dist/main.js) it is dist/html-to-text-worker.js, which `scripts/build.mjs` emits.
 */
const workerUrl = new URL(
  import.meta.url.endsWith(".ts") ? "./HtmlToTextWorker.mjs" : "./html-to-text-worker.js",
  import.meta.url
)

export const convert = (html: string, limits: HtmlToTextLimits): Effect.Effect<string, HtmlToTextError> => {
  const timeout = Duration.decode(limits.timeout)
  return Effect.async<string, HtmlToTextError>((resume) => {
    const worker = new Worker(workerUrl, {
      workerData: { html, maxDepth },
      resourceLimits: { maxOldGenerationSizeMb: limits.maxMemoryMb, maxYoungGenerationSizeMb: 32 },
      // The converter's own console output is not the daemon's: read and dropped.
      stdout: true,
      stderr: true
    })
    worker.stdout.resume()
    worker.stderr.resume()
    let settled = false
    const settle = (effect: Effect.Effect<string, HtmlToTextError>) => {
      if (settled) return
      settled = true
      resume(effect)
      void worker.terminate()
    }
    const failed = (message: string) => settle(Effect.fail(new HtmlToTextError({ message })))
    worker.once(
      "message",
      (reply: { ok: true; text: string } | { ok: false; error: string }) =>
        reply.ok
          ? settle(Effect.succeed(reply.text))
          : failed(`the page could not be converted to text: ${reply.error}`)
    )
    worker.once("error", (error: Error & { code?: string }) =>
      failed(
        error.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? `the page needs more than ${limits.maxMemoryMb} MB to convert to text`
          : `the page could not be converted to text: ${error.message}`
      ))
    worker.once("exit", () => failed("the page could not be converted to text: the converter stopped"))
    return Effect.sync(() => {
      settled = true
      void worker.terminate()
    })
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new HtmlToTextError({ message: `the page could not be converted to text within ${Duration.format(timeout)}` })
    })
  )
}
