/** `message`: sends the job's text as it is, without the LLM (a plain reminder). */
import { Effect } from "effect"
import { Outbound } from "../../channels/Outbound.ts"
import { keyOf } from "../../domain/Conversation.ts"
import { TurnLedger } from "../../runtime/TurnLedger.ts"
import { done, failed, type TaskStrategy, turnMessageId } from "../TaskStrategy.ts"

export const make = Effect.gen(function*() {
  const outbound = yield* Outbound
  const ledger = yield* TurnLedger
  return {
    name: "message",
    run: (run) =>
      Effect.gen(function*() {
        const key = keyOf(run.job.conversation)
        const id = turnMessageId(run)
        // A redelivered firing whose text went out already is not sent again.
        const prior = yield* ledger.lookup(key, id)
        if (prior._tag === "Some" && prior.value.status === "delivered") return done("(already delivered before a restart)")
        if (!run.job.notify) return done("(not sent: notify = false)")
        const sent = yield* outbound.deliver({ conversation: run.job.conversation, text: run.job.payload, kind: "notice" }).pipe(
          Effect.either
        )
        if (sent._tag === "Left") return failed(sent.left.message)
        yield* ledger.settle(key, id, "delivered", run.job.payload)
        return done(run.job.payload)
      })
  } satisfies TaskStrategy
})
