/**
 * Waiting for an event in real time (a reply, a row, a log line), for tests of real processes,
 * sockets and actors. A test that must show that something did not happen waits for a later
 * event that must follow it, never for a fixed time.
 */
import { Effect } from "effect"

export const realSleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

/** Polls `check` (real time) until it holds. */
export const eventually = (check: () => boolean, what: string | (() => string), timeoutMs = 10_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  })

/** Runs `effect` every 20 ms (real time) until its value satisfies `done`; returns that value. */
export const pollUntil = <A, E>(effect: Effect.Effect<A, E>, done: (a: A) => boolean, timeoutMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* effect
      if (done(value)) return value
      if (Date.now() > deadline) return yield* Effect.dieMessage(`pollUntil: still ${JSON.stringify(value)}`)
      yield* realSleep(20)
    }
  })
