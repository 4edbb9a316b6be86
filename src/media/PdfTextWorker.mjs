// The worker side of `PdfText.ts`: reads the text of one PDF's first pages and posts it back.
// Plain JavaScript so that it runs as it is from the sources (tests) and is bundled to
// dist/pdf-text-worker.js for the daemon. Time and memory limits are set and enforced by the
// thread that starts it.
import { parentPort, workerData } from "node:worker_threads"
import { getDocumentProxy } from "unpdf"

try {
  const pdf = await getDocumentProxy(new Uint8Array(workerData.bytes), { isEvalSupported: false })
  const pages = Math.min(pdf.numPages, workerData.maxPages)
  const texts = []
  for (let n = 1; n <= pages; n++) {
    const page = await pdf.getPage(n)
    const content = await page.getTextContent()
    texts.push(content.items.map((item) => ("str" in item ? item.str + (item.hasEOL ? "\n" : "") : "")).join(""))
  }
  parentPort.postMessage({ ok: true, text: texts.join("\n\n").trim(), pages, total: pdf.numPages })
} catch (error) {
  parentPort.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) })
}
