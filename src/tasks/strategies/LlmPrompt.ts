/** `llm_prompt`: the job's prompt runs as a scheduled turn of its conversation (through its actor). */
import { Effect } from "effect"
import { ScheduledPrompt } from "../../domain/Inbound.ts"
import { ConversationTurn, TurnResult } from "../../runtime/ConversationTurn.ts"
import {
  done,
  failed,
  type StrategyOutcome,
  type StrategyRun,
  type TaskStrategy,
  turnMessageId
} from "../TaskStrategy.ts"

/** The scheduled turn for `run`, saying `text`. */
export const scheduledMessage = (run: StrategyRun, text: string) =>
  new ScheduledPrompt({
    messageId: turnMessageId(run),
    conversation: run.job.conversation,
    ...(run.job.userId === null ? {} : { userId: run.job.userId }),
    text,
    receivedAt: run.dueAt + run.lateMs,
    requestId: turnMessageId(run),
    job: {
      jobId: run.job.id,
      ownerId: run.job.ownerId,
      dueAt: run.dueAt,
      lateMs: run.lateMs,
      notify: run.job.notify,
      timezone: run.job.timezone
    }
  })

export const outcomeOf: (result: TurnResult) => StrategyOutcome = TurnResult.$match({
  Delivered: ({ text }) => done(text),
  Silent: ({ text }) => done(`(not sent: notify = false) ${text}`),
  Duplicate: () => done("(already delivered before a restart)"),
  Stopped: () => done("(stopped by the user)"),
  Undeliverable: ({ reason }) => done(`(answered, but not delivered: ${reason})`),
  Failed: ({ reason }) => failed(reason)
})

/** Runs `text` as a scheduled turn for `run`. */
export const runTurn = (turn: ConversationTurn, run: StrategyRun, text: string) =>
  Effect.map(turn.run(scheduledMessage(run, text)), outcomeOf)

export const make = Effect.map(ConversationTurn, (turn): TaskStrategy => ({
  name: "llm_prompt",
  run: (run) => runTurn(turn, run, run.job.payload)
}))
