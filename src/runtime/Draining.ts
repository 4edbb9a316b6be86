/**
 * Whether the process is shutting down, from the moment SIGTERM or SIGINT arrives (before any
 * layer is released, which may come later when the process is busy).
 *
 * While draining, nothing new is started that the shutdown would have to wait for or cut short:
 * a turn that has not asked the model yet does not, and a reply that would have to wait for
 * Telegram's flood limits is not sent. Both are held until the shutdown interrupts them; the
 * message stays in its mailbox (and a reply already stored in the turn ledger stays stored), so
 * after the restart it is answered, or its stored reply sent, exactly once. What is already under
 * way (a model call, a request to Telegram) finishes within the turns' grace period.
 */
import { Context, Deferred, Effect, Exit, Layer } from "effect"

export interface DrainingShape {
  /** Completes once shutdown has begun (never, if it does not). */
  readonly started: Effect.Effect<void>
  readonly isDraining: Effect.Effect<boolean>
}

const stopSignals = ["SIGINT", "SIGTERM"] as const

/** A reference, not a requirement: code run without the daemon's signal handling never drains. */
export class Draining extends Context.Reference<Draining>()("minibot/Draining", {
  defaultValue: (): DrainingShape => ({ started: Effect.never, isDraining: Effect.succeed(false) })
}) {
  /** Draining starts when the process receives SIGTERM or SIGINT (the daemon's `run`). */
  static readonly onSignals = Layer.scoped(
    Draining,
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const begin = () => Deferred.unsafeDone(started, Exit.void)
      yield* Effect.acquireRelease(
        Effect.sync(() => stopSignals.forEach((name) => process.once(name, begin))),
        () => Effect.sync(() => stopSignals.forEach((name) => process.removeListener(name, begin)))
      )
      return { started: Deferred.await(started), isDraining: Deferred.isDone(started) }
    })
  )

  /** Holds the caller once draining has started, until it is interrupted by the shutdown. */
  static readonly holdIfDraining = Effect.flatMap(
    Draining,
    (draining) => Effect.flatMap(draining.isDraining, (yes) => yes ? Effect.never : Effect.void)
  )
}
