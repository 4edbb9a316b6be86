/** `message`: sends the job's text as it is, without the LLM (a plain reminder). */
import { Effect, Either, Option } from "effect"
import { Outbound } from "../../channels/Outbound.ts"
import { keyOf } from "../../domain/Conversation.ts"
import { TurnLedger } from "../../runtime/TurnLedger.ts"
import { formatInZone } from "../../scheduler/Job.ts"
import { done, failed, type TaskStrategy, turnMessageId } from "../TaskStrategy.ts"

/** A reminder this late (ms) says when it was due. */
const lateNoteAfter = 60_000

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
        if (Option.isSome(prior) && prior.value.status === "delivered") {
          return done("(already delivered before a restart)")
        }
        if (!run.job.notify) return done("(not sent: notify = false)")
        // Late after downtime: say so, as a scheduled prompt's instruction does.
        const text = run.lateMs >= lateNoteAfter
          ? `${run.job.payload}\n(due ${formatInZone(run.dueAt, run.job.timezone)}; sent late)`
          : run.job.payload
        const sent = yield* outbound.deliver({ conversation: run.job.conversation, text, kind: "notice" }).pipe(
          Effect.either
        )
        if (Either.isLeft(sent)) return failed(sent.left.message)
        yield* ledger.settle(key, id, "delivered", text)
        return done(text)
      })
  } satisfies TaskStrategy
})
