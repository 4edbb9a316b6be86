/**
 * The model's Markdown rendered to Telegram chunks off the event loop. Markdown built to be slow
 * (thousands of nested brackets, quotes or list levels, a table of 150,000 rows) takes markdown-it
 * from hundreds of milliseconds to many seconds, or overflows the stack; on the main thread that
 * would hold every other conversation. So rendering runs in long-lived worker threads (at most
 * `maxRenderers`, one answer each at a time) with a memory limit; an answer not rendered within
 * `renderTimeout` fails, and the worker stuck on it is terminated (a fresh one starts for the
 * next answer). Input longer than
 * `maxMarkdownChars` is not rendered at all. A failed or refused render is not the person's
 * problem: the sender falls back to the plain text, in pieces Telegram accepts.
 *
 * Most answers are short and plain, and for them the round trip to a thread costs more than the
 * rendering: an answer `isSmallAndSimple` is rendered on the calling thread (well under a
 * millisecond; a few at worst, whatever its content).
 */
import { Data, Duration, Effect } from "effect"
import { Worker } from "node:worker_threads"
import { formatForTelegram, type TelegramChunk } from "./TelegramFormat.ts"

/** Longer answers are sent as plain text (a real answer is a few thousand characters). */
export const maxMarkdownChars = 100_000
/** Generous: an ordinary answer takes milliseconds, but a loaded machine starves the threads. */
const renderTimeout = Duration.seconds(5)
const workerMemoryMb = 128
/** Renderers at most (one answer each at a time): one answer built to be slow does not hold the others. */
const maxRenderers = 2
/**
 * A renderer idle this long ends. Each is a V8 instance of its own (tens of MB once it has worked):
 * after a burst of answers the memory goes back, and the next answer starts a fresh one.
 */
const idleLifetime = Duration.seconds(30)

/** Rendered on the calling thread at most: markdown-it's slow cases need more text than this... */
export const inThreadMaxChars = 2048
/**
 * ...and more of these characters (links, code spans, emphasis, tables, quotes, raw tags): with at
 * most this many, no input of `inThreadMaxChars` takes markdown-it more than a few milliseconds.
 */
const inThreadMaxMarkup = 128
const markup = /[[\]`*_|<>~\\]/g

/** True when `markdown` is rendered on the calling thread: short, and with little markup. */
export const isSmallAndSimple = (markdown: string): boolean =>
  markdown.length <= inThreadMaxChars && (markdown.match(markup)?.length ?? 0) <= inThreadMaxMarkup

export class RenderError extends Data.TaggedError("RenderError")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/**
 * From the sources (tests, `tsx`) the worker is the `.mjs` beside this file; in the daemon's
 * bundle it is dist/telegram-format-worker.js, which `scripts/build.mjs` emits.
 */
const workerUrl = new URL(
  import.meta.url.endsWith(".ts") ? "./TelegramFormatWorker.mjs" : "./telegram-format-worker.js",
  import.meta.url
)

type Reply =
  & { readonly id: number }
  & (
    | { readonly ok: true; readonly chunks: Array<TelegramChunk> }
    | { readonly ok: false; readonly error: string }
  )

interface Job {
  readonly markdown: string
  /** A renderer took it: its time starts. */
  readonly started: () => void
  readonly resume: (result: Effect.Effect<Array<TelegramChunk>, RenderError>) => void
}

interface Renderer {
  readonly worker: Worker
  /** Loaded (it said so): a job's time starts only then, not while the thread starts. */
  ready: boolean
  job: Job | undefined
  idleTimer: ReturnType<typeof setTimeout> | undefined
}

export class FormatWorker extends Effect.Service<FormatWorker>()("minibot/FormatWorker", {
  scoped: Effect.gen(function*() {
    const renderers = new Set<Renderer>()
    const queue: Array<Job> = []

    /** Gives the next queued answer to an idle renderer, starting one if there are fewer than `maxRenderers`. */
    const dispatch = () => {
      while (queue.length > 0) {
        let idle = [...renderers].find((r) => r.job === undefined)
        if (idle === undefined && renderers.size < maxRenderers) idle = start()
        if (idle === undefined) return
        const job = queue.shift()!
        clearTimeout(idle.idleTimer)
        idle.job = job
        idle.worker.postMessage({ markdown: job.markdown })
        if (idle.ready) job.started()
      }
    }

    const finish = (renderer: Renderer, result: Effect.Effect<Array<TelegramChunk>, RenderError>) => {
      const job = renderer.job
      renderer.job = undefined
      job?.resume(result)
      dispatch()
      if (renderer.job === undefined && renderers.has(renderer)) {
        clearTimeout(renderer.idleTimer)
        renderer.idleTimer = setTimeout(() => {
          if (renderer.job === undefined) stop(renderer, "idle")
        }, Duration.toMillis(idleLifetime))
        renderer.idleTimer.unref()
      }
    }

    /** Ends a renderer: the answer it was working on fails with `reason`, the queue moves on. */
    const stop = (renderer: Renderer, reason: string) => {
      if (!renderers.delete(renderer)) return
      clearTimeout(renderer.idleTimer)
      void renderer.worker.terminate()
      finish(renderer, Effect.fail(new RenderError({ reason })))
    }

    const start = (): Renderer => {
      const worker = new Worker(workerUrl, {
        resourceLimits: { maxOldGenerationSizeMb: workerMemoryMb, maxYoungGenerationSizeMb: 32 },
        stdout: true,
        stderr: true
      })
      const renderer: Renderer = { worker, ready: false, job: undefined, idleTimer: undefined }
      renderers.add(renderer)
      worker.stdout.resume()
      worker.stderr.resume()
      // An idle renderer does not keep the process alive.
      worker.unref()
      worker.on("message", (reply: Reply | { readonly ready: true }) => {
        if ("ready" in reply) {
          renderer.ready = true
          return renderer.job?.started()
        }
        finish(
          renderer,
          reply.ok ? Effect.succeed(reply.chunks) : Effect.fail(new RenderError({ reason: reply.error }))
        )
      })
      worker.on("error", (error: Error & { code?: string }) =>
        stop(
          renderer,
          error.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? `rendering needed more than ${workerMemoryMb} MB`
            : `the renderer failed: ${error.message}`
        ))
      worker.on("exit", () => stop(renderer, "the renderer stopped"))
      return renderer
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        queue.length = 0
        for (const renderer of [...renderers]) stop(renderer, "shutting down")
      })
    )

    /** A small and simple answer's chunks, here and now. */
    const renderHere = (markdown: string) =>
      Effect.try({
        try: () => formatForTelegram(markdown),
        catch: (error) => new RenderError({ reason: error instanceof Error ? error.message : String(error) })
      })

    /** The chunks of a Markdown answer, rendered within `renderTimeout` (or a `RenderError`). */
    const render = (markdown: string): Effect.Effect<Array<TelegramChunk>, RenderError> =>
      isSmallAndSimple(markdown)
        ? renderHere(markdown)
        : markdown.length > maxMarkdownChars
        ? Effect.fail(new RenderError({ reason: `the answer is longer than ${maxMarkdownChars} characters` }))
        : Effect.async<Array<TelegramChunk>, RenderError>((resume) => {
          let timer: ReturnType<typeof setTimeout> | undefined
          const job: Job = {
            markdown,
            // Counted from when a renderer takes it: answers waiting behind others are not failed for it.
            started: () => {
              timer = setTimeout(() => {
                const renderer = [...renderers].find((r) => r.job === job)
                if (renderer !== undefined) {
                  stop(renderer, `rendering took longer than ${Duration.format(renderTimeout)}`)
                }
              }, Duration.toMillis(renderTimeout))
            },
            resume: (result) => {
              clearTimeout(timer)
              resume(result)
            }
          }
          queue.push(job)
          dispatch()
          return Effect.sync(() => {
            clearTimeout(timer)
            const at = queue.indexOf(job)
            if (at >= 0) queue.splice(at, 1)
            // A renderer busy with it finishes it for nobody; its result is dropped.
            const renderer = [...renderers].find((r) => r.job === job)
            if (renderer !== undefined) renderer.job = { markdown, started: () => {}, resume: () => {} }
          })
        })

    return { render } as const
  })
}) {}
