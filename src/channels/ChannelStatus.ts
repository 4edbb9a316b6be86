/**
 * Which channels have connected and which have failed for good, so the daemon says "started" only
 * once its channels are up, and exits (for a supervisor to notice) when none of them can work. A
 * channel that connects in the background (Telegram waits for getMe) declares itself with `expect`;
 * the others are up once their layer is built.
 */
import { Array, Context, Data, Deferred, Effect, FiberId, Layer } from "effect"

export class ChannelFailed extends Data.TaggedError("ChannelFailed")<{
  readonly channel: string
  readonly reason: string
}> {}

/** Every enabled channel failed for good: the daemon cannot hear anyone. */
export class ChannelsFailed extends Data.TaggedError("ChannelsFailed")<{
  readonly failures: ReadonlyArray<ChannelFailed>
}> {
  override get message() {
    return `every enabled channel failed: ${this.failures.map((f) => `${f.channel}: ${f.reason}`).join("; ")}`
  }
}

const make = () => {
  const channels = new Map<string, Deferred.Deferred<void, ChannelFailed>>()
  const entry = (name: string) => {
    const known = channels.get(name)
    if (known !== undefined) return known
    const created = Deferred.unsafeMake<void, ChannelFailed>(FiberId.none)
    channels.set(name, created)
    return created
  }
  return {
    /** Declares a channel that is not up until `connected` (or `failed`) is called for it. */
    expect: (name: string) => Effect.sync(() => void entry(name)),
    connected: (name: string) => Effect.asVoid(Deferred.succeed(entry(name), undefined)),
    failed: (name: string, reason: string) =>
      Effect.asVoid(Deferred.fail(entry(name), new ChannelFailed({ channel: name, reason }))),
    /** Waits until every expected channel has connected or failed; the failures. */
    settled: Effect.suspend(() =>
      Effect.forEach([...channels.values()], (d) => Effect.option(Effect.flip(Deferred.await(d))))
    ).pipe(Effect.map(Array.getSomes))
  } as const
}

/** A reference, not a requirement: a channel built alone (in a test) reports to a status nobody reads. */
export class ChannelStatus extends Context.Reference<ChannelStatus>()("minibot/ChannelStatus", {
  defaultValue: make
}) {
  /** One status shared by the daemon's channels and its start-up. */
  static readonly layer = Layer.sync(ChannelStatus, make)
}
