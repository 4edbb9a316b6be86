/**
 * Revoking a person stops what they created. A Telegram user's active jobs and tasks are
 * cancelled once that user may no longer write where the job runs: not in `allowed_user_ids`, not
 * approved by pairing, and the job's chat not in `allowed_chat_ids` (the rule `TelegramAccess`
 * applies to messages). It runs at start (a user removed from the config) and after
 * `minibot pairing revoke`. Cancelling is a row update, so a firing already waiting in a mailbox
 * finds its job cancelled and never runs.
 */
import { Clock, Effect, Layer } from "effect"
import { TelegramSettings } from "../../config/Config.ts"
import { JobStore } from "../../scheduler/JobStore.ts"
import { Pairing } from "./Pairing.ts"

/** Cancels the active jobs of people who lost access; returns how many were cancelled. */
export const cancelRevokedJobs = Effect.fn("TelegramRevocation.cancelRevokedJobs")(function*() {
  const tg = yield* TelegramSettings
  const pairing = yield* Pairing
  const store = yield* JobStore
  const allowedUsers = new Set(tg.allowed_user_ids)
  const allowedChats = new Set(tg.allowed_chat_ids)
  const jobs = yield* store.activeWithCreator("telegram")
  let cancelled = 0
  for (const job of jobs) {
    const userId = Number(job.userId)
    const stillAllowed = allowedUsers.has(userId) || allowedChats.has(Number(job.conversation.chatId)) ||
      (yield* pairing.isPaired(userId))
    if (stillAllowed) continue
    const now = yield* Clock.currentTimeMillis
    if (!(yield* store.cancelAny(job.id, now))) continue
    cancelled++
    yield* Effect.logWarning("job cancelled: the person who created it no longer has access").pipe(
      Effect.annotateLogs({
        job_id: job.id,
        user_id: job.userId,
        owner_id: job.ownerId,
        chat_id: job.conversation.chatId
      })
    )
  }
  return cancelled
}, Effect.annotateLogs("component", "telegram"))

/**
 * The start-up sweep, built before the actors read their mailboxes, so a revoked person's job
 * that fell due while the daemon was down does not fire once more. Off with the channel.
 */
export const atStart = Layer.effectDiscard(
  Effect.gen(function*() {
    const tg = yield* TelegramSettings
    if (!tg.enabled) return
    const cancelled = yield* cancelRevokedJobs()
    if (cancelled > 0) {
      yield* Effect.logWarning(`cancelled ${cancelled} job(s) of people who no longer have access`).pipe(
        Effect.annotateLogs("component", "telegram")
      )
    }
  }).pipe(Effect.catchAllCause((cause) => Effect.logError("cancelling the jobs of revoked people failed", cause)))
).pipe(Layer.provide(Pairing.Default))
