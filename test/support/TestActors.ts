/**
 * The `Actors` port for tests of turn logic that run a turn directly (no mailboxes): `stoppable`
 * and `stop` work as in the daemon (a FiberMap keyed by conversation), so `/stop` can be tested in
 * milliseconds. Mailbox operations are not part of a turn; calling one is a defect that says so.
 */
import { Effect, Fiber, FiberMap, Layer } from "effect"
import type { ConversationKey } from "../../src/domain/Conversation.ts"
import { Actors } from "../../src/runtime/Actors.ts"

const noMailbox = (operation: string) =>
  Effect.dieMessage(`TestActors: ${operation} is not available (turns run directly, without mailboxes)`)

export const TestActors: Layer.Layer<Actors> = Layer.scoped(
  Actors,
  Effect.gen(function*() {
    const running = yield* FiberMap.make<ConversationKey>()
    return Actors.of({
      submit: () => noMailbox("submit"),
      post: () => noMailbox("post"),
      wake: Effect.void,
      unposted: () => noMailbox("unposted"),
      pending: () => noMailbox("pending"),
      stoppable: (key, work) => Effect.flatMap(FiberMap.run(running, key, work), Fiber.await),
      stop: (key) =>
        Effect.gen(function*() {
          const has = yield* FiberMap.has(running, key)
          if (has) yield* FiberMap.remove(running, key)
          return has
        })
    })
  })
)
