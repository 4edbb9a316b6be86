/**
 * One piece of CPU-heavy work on untrusted input, in a worker thread of its own: a memory limit
 * V8 enforces, a time limit after which the worker is terminated, and termination when the caller
 * is interrupted (a tool timeout, a stopped turn). Nothing of it runs on the event loop, so no
 * other conversation waits for it. The worker answers with one message, `{ ok: true, ... }` or
 * `{ ok: false, error }`; its own console output is read and dropped.
 */
import { Data, Duration, Effect } from "effect"
import { Worker } from "node:worker_threads"

export interface WorkerLimits {
  readonly timeout: Duration.DurationInput
  readonly maxMemoryMb: number
}

/** Why the work did not finish: its own error, the memory limit, the time limit, or a crash. */
export class WorkerFailure extends Data.TaggedError("WorkerFailure")<{
  readonly reason: "error" | "out_of_memory" | "timeout" | "stopped"
  readonly detail: string
}> {}

type Reply<A> = ({ readonly ok: true } & A) | { readonly ok: false; readonly error: string }

export const run = <A>(url: URL, workerData: unknown, limits: WorkerLimits): Effect.Effect<A, WorkerFailure> => {
  const timeout = Duration.decode(limits.timeout)
  return Effect.async<A, WorkerFailure>((resume) => {
    const worker = new Worker(url, {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: limits.maxMemoryMb, maxYoungGenerationSizeMb: 32 },
      stdout: true,
      stderr: true
    })
    worker.stdout.resume()
    worker.stderr.resume()
    let settled = false
    const settle = (effect: Effect.Effect<A, WorkerFailure>) => {
      if (settled) return
      settled = true
      resume(effect)
      void worker.terminate()
    }
    const failed = (reason: WorkerFailure["reason"], detail: string) =>
      settle(Effect.fail(new WorkerFailure({ reason, detail })))
    worker.once("message", (reply: Reply<A>) => reply.ok ? settle(Effect.succeed(reply)) : failed("error", reply.error))
    worker.once("error", (error: Error & { code?: string }) =>
      error.code === "ERR_WORKER_OUT_OF_MEMORY"
        ? failed("out_of_memory", `more than ${limits.maxMemoryMb} MB`)
        : failed("error", error.message))
    worker.once("exit", () => failed("stopped", "the worker stopped"))
    return Effect.sync(() => {
      settled = true
      void worker.terminate()
    })
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new WorkerFailure({ reason: "timeout", detail: `within ${Duration.format(timeout)}` })
    })
  )
}
