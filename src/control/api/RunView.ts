/** A job run as the API shows it, for a schedule's history and a task's audit trail alike. */
import type { JobRun } from "../../scheduler/JobStore.ts"

/** Later than this, a run fell due while the daemon was down (as the job runner counts it). */
const missedAfterMs = 60_000

/** `deliveredMessageIds`: the run's turns whose replies reached the chat. */
export const runView = (run: JobRun, deliveredMessageIds: ReadonlyArray<string>) => ({
  dueAt: run.dueAt,
  firedAt: run.startedAt,
  finishedAt: run.finishedAt,
  lateMs: run.lateMs,
  outcome: run.status,
  missed: run.lateMs > missedAfterMs,
  attempts: run.attempt + 1,
  result: run.result,
  error: run.error,
  deliveredMessageIds
})
