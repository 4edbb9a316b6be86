/** `llm_prompt`: the job's prompt runs as a scheduled turn of its conversation (through its actor). */
import { Effect } from "effect"
import { InboundMessage } from "../../domain/Inbound.ts"
import { ConversationTurn, type TurnResult } from "../../runtime/ConversationTurn.ts"
import {
  done,
  failed,
  type StrategyOutcome,
  type StrategyRun,
  type TaskStrategy,
  turnMessageId
} from "../TaskStrategy.ts"

/** The inbound message of a scheduled turn for `run`, saying `text`. */
export const scheduledMessage = (run: StrategyRun, text: string) =>
  new InboundMessage({
    messageId: turnMessageId(run),
    conversation: run.job.conversation,
    ...(run.job.userId === null ? {} : { userId: run.job.userId }),
    text,
    receivedAt: run.dueAt + run.lateMs,
    requestId: turnMessageId(run),
    kind: "scheduled",
    scheduled: {
      jobId: run.job.id,
      ownerId: run.job.ownerId,
      dueAt: run.dueAt,
      lateMs: run.lateMs,
      notify: run.job.notify,
      timezone: run.job.timezone
    }
  })

export const outcomeOf = (result: TurnResult): StrategyOutcome => {
  switch (result._tag) {
    case "Delivered":
      return done(result.text)
    case "Silent":
      return done(`(not sent: notify = false) ${result.text}`)
    case "Duplicate":
      return done("(already delivered before a restart)")
    case "Stopped":
      return done("(stopped by the user)")
    case "Undeliverable":
      return done(`(answered, but not delivered: ${result.reason})`)
    case "Failed":
      return failed(result.reason)
  }
}

/** Runs `text` as a scheduled turn for `run`. */
export const runTurn = (turn: ConversationTurn, run: StrategyRun, text: string) =>
  Effect.map(turn.run(scheduledMessage(run, text)), outcomeOf)

export const make = Effect.map(ConversationTurn, (turn): TaskStrategy => ({
  name: "llm_prompt",
  run: (run) => runTurn(turn, run, run.job.payload)
}))
