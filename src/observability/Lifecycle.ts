/**
 * The two lines an operator looks for: what started (version, where the configuration came from,
 * data_dir, channels, model and LLM host) and why it stopped (a signal, a failure, or the end).
 */
import { Cause, Effect, Exit } from "effect"
import { type LoadedConfig, originOf } from "../config/ConfigLoader.ts"
import { version } from "./Build.ts"

export { version } from "./Build.ts"

const llmHost = (baseUrl: string) => URL.canParse(baseUrl) ? new URL(baseUrl).host : baseUrl

/** The fields of the start-up line. */
export const startupFields = (loaded: LoadedConfig, channels: ReadonlyArray<string>): Record<string, string> => ({
  version,
  config: originOf(loaded),
  ...(loaded.environment.length > 0 ? { env: loaded.environment.map((e) => e.variable).join(",") } : {}),
  data_dir: loaded.config.runtime.data_dir,
  channels: channels.length > 0 ? channels.join(",") : "none",
  model: loaded.config.llm.model,
  llm_host: llmHost(loaded.config.llm.base_url)
})

const stopSignals = ["SIGINT", "SIGTERM"] as const

/**
 * Wraps the daemon: once it has ended and released everything, logs `minibot stopped` with the
 * reason. The signal is recorded by a listener beside the runtime's own (which interrupts).
 */
export const logStopped = <A, E, R>(daemon: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    let received: string | undefined
    const listeners = stopSignals.map((name) => [name, () => void (received ??= name)] as const)
    yield* Effect.acquireRelease(
      Effect.sync(() => listeners.forEach(([name, listener]) => process.once(name, listener))),
      () => Effect.sync(() => listeners.forEach(([name, listener]) => process.removeListener(name, listener)))
    )
    return yield* daemon.pipe(
      Effect.onExit((exit) =>
        Effect.suspend(() => {
          const reason = Exit.match(exit, {
            onSuccess: () => "finished",
            onFailure: (cause) =>
              Cause.isInterruptedOnly(cause)
                ? received ?? "interrupted"
                : `failed: ${Cause.pretty(cause).split("\n")[0]}`
          })
          return Effect.logInfo("minibot stopped").pipe(Effect.annotateLogs({ reason }))
        })
      )
    )
  }).pipe(Effect.scoped)
