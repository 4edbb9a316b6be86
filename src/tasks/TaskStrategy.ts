/**
 * How a due job is carried out (the seed's Task Strategy). The scheduler decides when; a
 * strategy decides what: `llm_prompt` runs the prompt as a turn of the job's conversation,
 * `web_fetch` fetches a URL with the `http_request` guards and has the model summarise it,
 * `message` sends a fixed text without the LLM. A strategy never fails: it reports `Done` or
 * `Failed` (then the scheduler retries, up to `[scheduler] default_retry_limit`).
 */
import { Data, type Effect } from "effect"
import type { Job, StrategyName } from "../scheduler/Job.ts"

export interface StrategyRun {
  readonly job: Job
  readonly dueAt: number
  readonly attempt: number
  /** How late this attempt started (ms after the due time). */
  readonly lateMs: number
}

export type StrategyOutcome = Data.TaggedEnum<{
  Done: { readonly summary: string }
  Failed: { readonly reason: string }
}>
export const StrategyOutcome = Data.taggedEnum<StrategyOutcome>()

export interface TaskStrategy {
  readonly name: StrategyName
  readonly run: (run: StrategyRun) => Effect.Effect<StrategyOutcome>
}

/** The message id of an attempt's turn: stable, so a redelivered firing is deduped by the turn ledger. */
export const turnMessageId = (run: StrategyRun) =>
  `job:${run.job.id}:${run.dueAt}${run.attempt === 0 ? "" : `:${run.attempt}`}`

export const done = (summary: string): StrategyOutcome => StrategyOutcome.Done({ summary })
export const failed = (reason: string): StrategyOutcome => StrategyOutcome.Failed({ reason })
