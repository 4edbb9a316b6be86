// The worker side of `HtmlToText.ts`: converts one page and posts the text back. Plain JavaScript
// so that it runs as it is from the sources (tests) and is bundled to dist/html-to-text-worker.js
// for the daemon. Time and memory limits are set and enforced by the thread that starts it.
import { convert } from "html-to-text"
import { parentPort, workerData } from "node:worker_threads"

try {
  const text = convert(workerData.html, {
    wordwrap: false,
    selectors: [{ selector: "img", format: "skip" }],
    // Content nested deeper than this is left out: no real page needs it, and it bounds recursion.
    limits: { maxDepth: workerData.maxDepth, ellipsis: "…" }
  })
  parentPort.postMessage({ ok: true, text })
} catch (error) {
  parentPort.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) })
}
