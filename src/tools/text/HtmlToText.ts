/**
 * HTML to text for pages fetched from the web, off the event loop: a page built to be slow (tens
 * of thousands of nested tags take seconds and overflow the stack) runs in its own worker thread
 * with a memory limit, and is terminated when its time is up, so no other conversation waits for
 * it. Interruption (a tool timeout, a stopped turn) terminates the worker too.
 */
import { Data, type Duration, Effect } from "effect"
import * as OneShotWorker from "../../workers/OneShotWorker.ts"

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

export const convert = (html: string, limits: HtmlToTextLimits): Effect.Effect<string, HtmlToTextError> =>
  OneShotWorker.run<{ readonly text: string }>(workerUrl, { html, maxDepth }, limits).pipe(
    Effect.map((reply) => reply.text),
    Effect.mapError((failure) =>
      new HtmlToTextError({
        message: failure.reason === "out_of_memory"
          ? `the page needs more than ${limits.maxMemoryMb} MB to convert to text`
          : failure.reason === "timeout"
          ? `the page could not be converted to text ${failure.detail}`
          : failure.reason === "stopped"
          ? "the page could not be converted to text: the converter stopped"
          : `the page could not be converted to text: ${failure.detail}`
      })
    )
  )
