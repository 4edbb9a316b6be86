/**
 * `/api/pairing`: what `minibot pairing` does, over HTTP: the pending codes and approved people,
 * approving a code, and revoking a person (whose jobs are then cancelled, as after the CLI's revoke).
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { Pairing } from "../../channels/telegram/Pairing.ts"
import { cancelRevokedJobs } from "../../channels/telegram/TelegramRevocation.ts"
import { TelegramSettings } from "../../config/Config.ts"
import { JobStore } from "../../scheduler/JobStore.ts"
import { Api, NotFound } from "./Api.ts"

export const PairingHandlers = HttpApiBuilder.group(Api, "pairing", (handlers) =>
  Effect.gen(function*() {
    const pairing = yield* Pairing
    const telegram = yield* TelegramSettings
    const jobs = yield* JobStore

    return handlers
      .handle("list", () => Effect.all({ pending: pairing.pending, paired: pairing.paired }).pipe(Effect.orDie))
      .handle("approve", ({ payload }) =>
        pairing.approve(payload.code).pipe(
          Effect.catchTag("PairingCodeUnknown", (e) => Effect.fail(new NotFound({ message: e.message }))),
          Effect.tap((row) =>
            Effect.logInfo("pairing approved by the operator").pipe(Effect.annotateLogs("user_id", row.userId))
          ),
          Effect.flatMap((row) => Effect.map(pairing.paired, (people) => people.find((p) => p.userId === row.userId)!)),
          Effect.catchTags({ SqlError: Effect.die, ParseError: Effect.die })
        ))
      .handle("revoke", ({ payload }) =>
        Effect.gen(function*() {
          const removed = yield* pairing.revoke(payload.user_id).pipe(Effect.orDie)
          if (!removed) return yield* new NotFound({ message: `user ${payload.user_id} was not approved by pairing` })
          const cancelledJobs = yield* cancelRevokedJobs().pipe(
            Effect.provideService(Pairing, pairing),
            Effect.provideService(TelegramSettings, telegram),
            Effect.provideService(JobStore, jobs),
            Effect.orDie
          )
          yield* Effect.logInfo("pairing revoked by the operator").pipe(
            Effect.annotateLogs({ user_id: payload.user_id, cancelled_jobs: cancelledJobs })
          )
          return { userId: payload.user_id, cancelledJobs }
        }))
  }))
