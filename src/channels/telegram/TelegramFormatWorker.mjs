// The worker side of `FormatWorker.ts`: renders the model's Markdown to Telegram chunks, one
// answer at a time, and posts each result back. Plain JavaScript that imports
// the TypeScript renderer: Node strips the types when it runs from the sources (tests), and
// `scripts/build.mjs` bundles both into dist/telegram-format-worker.js for the daemon. Time and
// memory limits are set and enforced by the thread that starts it.
import { parentPort } from "node:worker_threads"
import { formatForTelegram } from "./TelegramFormat.ts"

parentPort.on("message", ({ markdown }) => {
  try {
    parentPort.postMessage({ ok: true, chunks: formatForTelegram(markdown) })
  } catch (error) {
    parentPort.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) })
  }
})
// Loaded: the parent starts counting a render's time from here, not from the thread's start.
parentPort.postMessage({ ready: true })
