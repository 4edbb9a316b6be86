/**
 * Pausing a channel's intake (`POST /api/channels/{name}/pause`): while a channel is paused it
 * takes no new messages, and leaves them with the platform instead (Telegram's long polling stops
 * calling getUpdates, so the offset stays where it is; its webhook answers 503 so Telegram
 * retries). Resuming continues from the stored offset: nothing is lost, nothing doubles. Replies
 * and scheduled jobs keep going out while paused.
 *
 * The state is this process's (a restart resumes every channel).
 */
import { Context, Effect, Layer } from "effect"

interface Gate {
  paused: boolean
  readonly open: Effect.Latch
  readonly closed: Effect.Latch
}

const make = () => {
  const gates = new Map<string, Gate>()
  const gate = (name: string): Gate => {
    const known = gates.get(name)
    if (known !== undefined) return known
    const created = { paused: false, open: Effect.unsafeMakeLatch(true), closed: Effect.unsafeMakeLatch(false) }
    gates.set(name, created)
    return created
  }
  return {
    isPaused: (name: string) => gates.get(name)?.paused ?? false,
    /** Pauses `name`; false when it already was. */
    pause: (name: string) =>
      Effect.suspend(() => {
        const g = gate(name)
        if (g.paused) return Effect.succeed(false)
        g.paused = true
        return Effect.as(Effect.zipRight(g.open.close, g.closed.open), true)
      }),
    /** Resumes `name`; false when it was not paused. */
    resume: (name: string) =>
      Effect.suspend(() => {
        const g = gate(name)
        if (!g.paused) return Effect.succeed(false)
        g.paused = false
        return Effect.as(Effect.zipRight(g.closed.close, g.open.open), true)
      }),
    /** Returns at once when `name` is running; waits for its resumption when paused. */
    whenRunning: (name: string) => Effect.suspend(() => gate(name).open.await),
    /** Returns when `name` is paused (to stop a long poll in flight). */
    whenPaused: (name: string) => Effect.suspend(() => gate(name).closed.await)
  } as const
}

/** A reference, not a requirement: a channel built alone (in a test) is never paused. */
export class ChannelGate extends Context.Reference<ChannelGate>()("minibot/ChannelGate", { defaultValue: make }) {
  /** One gate shared by the daemon's channels and the API. */
  static readonly layer = Layer.sync(ChannelGate, make)
}
