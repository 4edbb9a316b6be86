/**
 * The `Actors` port for tests that run turns and firings directly (no mailboxes): `stoppable` and
 * `stop` work as in the daemon (a FiberMap keyed by conversation), so `/stop` can be tested in
 * milliseconds; posted firings are recorded in `Posted` for the test to deliver itself. Submitting
 * a message is not part of these tests; calling it is a defect that says so.
 */
import { Context, Effect, Fiber, FiberMap, Layer, PrimaryKey, Ref } from "effect"
import type { ConversationKey } from "../../src/domain/Conversation.ts"
import type { JobFiring } from "../../src/domain/JobFiring.ts"
import { Actors } from "../../src/runtime/Actors.ts"

/** Every firing posted so far, in order. */
export class Posted extends Context.Tag("test/Posted")<Posted, Ref.Ref<ReadonlyArray<JobFiring>>>() {
  static readonly all = Effect.flatMap(Posted, Ref.get)
}

const noMailbox = (operation: string) =>
  Effect.dieMessage(`TestActors: ${operation} is not available (turns run directly, without mailboxes)`)

export const TestActors: Layer.Layer<Actors | Posted> = Layer.scopedContext(
  Effect.gen(function*() {
    const running = yield* FiberMap.make<ConversationKey>()
    const posted = yield* Ref.make<ReadonlyArray<JobFiring>>([])
    const keys = Effect.map(Ref.get(posted), (all) => new Set(all.map(PrimaryKey.value)))
    const actors = Actors.of({
      submit: () => noMailbox("submit"),
      post: (firing) => Ref.update(posted, (all) => [...all, firing]),
      wake: Effect.void,
      unposted: (firings) => Effect.map(keys, (known) => firings.filter((f) => !known.has(PrimaryKey.value(f)))),
      following: () => Effect.succeed([]),
      pending: () => noMailbox("pending"),
      stoppable: (key, work) => Effect.flatMap(FiberMap.run(running, key, work), Fiber.await),
      stop: (key) =>
        Effect.gen(function*() {
          const has = yield* FiberMap.has(running, key)
          if (has) yield* FiberMap.remove(running, key)
          return has
        })
    })
    return Context.make(Actors, actors).pipe(Context.add(Posted, posted))
  })
)
