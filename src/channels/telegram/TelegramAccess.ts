/**
 * Who the bot answers: the ids in `allowed_user_ids`/`allowed_chat_ids`, and the users approved
 * by pairing. Everyone else gets at most one short reply per chat per `refusalInterval` (a
 * refusal, or with `dm_policy = "pairing"` in private a pairing code) and nothing more: no LLM
 * call, no history.
 */
import type { SqlError } from "@effect/sql"
import { Data, Effect, Metric, Option, type ParseResult } from "effect"
import { TelegramSettings } from "../../config/Config.ts"
import * as Metrics from "../../observability/Metrics.ts"
import { Pairing, PairingRequest } from "./Pairing.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { TelegramTimings } from "./TelegramTimings.ts"

/** The person who wrote, and where. */
export interface Sender {
  readonly userId: number
  readonly chatId: number
  readonly isGroup: boolean
  readonly userName?: string | undefined
}

export type Admission = Data.TaggedEnum<{
  /** Allowed by id, or paired: answered. */
  Admitted: {}
  /** Not allowed, and this chat was refused less than `refusalInterval` ago: nothing is sent. */
  Ignored: {}
  /** Not allowed: told so, with the ids the owner would add. */
  Refused: {}
  /** Not allowed, in private with `dm_policy = "pairing"`: a pairing code (or word that too many wait). */
  Pairing: { readonly request: PairingRequest }
}>
export const Admission = Data.taggedEnum<Admission>()

const refusalText = (userId: number, chatId: number) =>
  `Sorry, I only answer people my owner has allowed. Your user id is ${userId} and this chat's id is ${chatId}: ` +
  "the owner can add one of them to allowed_user_ids or allowed_chat_ids."
const pairingText = (code: string, userId: number) =>
  `I don't know you yet. To get access, give my owner this code: ${code} (valid for 1 hour). ` +
  `They approve it with: minibot pairing approve ${code}\n(Your user id is ${userId}.)`
const pairingFullText = (userId: number) =>
  `I don't know you yet, and too many pairing requests are waiting: try again later. (Your user id is ${userId}.)`

/** What the sender is told, if anything. */
export const replyTo = (sender: Sender, admission: Admission): Option.Option<string> =>
  Admission.$match(admission, {
    Admitted: () => Option.none(),
    Ignored: () => Option.none(),
    Refused: () => Option.some(refusalText(sender.userId, sender.chatId)),
    Pairing: ({ request }) =>
      Option.some(PairingRequest.$match(request, {
        Issued: ({ code }) => pairingText(code, sender.userId),
        TooManyPending: () => pairingFullText(sender.userId)
      }))
  })

export class TelegramAccess extends Effect.Service<TelegramAccess>()("minibot/TelegramAccess", {
  effect: Effect.gen(function*() {
    const tg = yield* TelegramSettings
    const timings = yield* TelegramTimings
    const pairing = yield* Pairing
    const store = yield* TelegramStore
    const allowedUsers = new Set(tg.allowed_user_ids)
    const allowedChats = new Set(tg.allowed_chat_ids)

    const isAllowed = (sender: Sender) =>
      allowedUsers.has(sender.userId) || allowedChats.has(sender.chatId)
        ? Effect.succeed(true)
        : pairing.isPaired(sender.userId)

    /** Whether the sender is answered; a stranger's refusal (or pairing code) is recorded as due here. */
    const admit: (sender: Sender) => Effect.Effect<Admission, SqlError.SqlError | ParseResult.ParseError> = Effect.fn(
      "TelegramAccess.admit"
    )(
      function*(sender: Sender) {
        if (yield* isAllowed(sender)) return Admission.Admitted()
        const due = yield* store.refusalDue(sender.chatId, timings.refusalInterval)
        if (!due) {
          yield* Effect.logInfo("message from a sender who is not allowed: ignored (refused less than an hour ago)")
          return Admission.Ignored()
        }
        yield* Metric.increment(Metrics.telegramRefusals)
        if (!sender.isGroup && tg.dm_policy === "pairing") {
          const request = yield* pairing.request({
            userId: sender.userId,
            chatId: sender.chatId,
            userName: sender.userName
          })
          yield* Effect.logInfo(
            request._tag === "Issued"
              ? "message from an unknown sender: pairing code sent (see `minibot pairing list`)"
              : "message from an unknown sender: too many pairing requests pending, none issued"
          )
          return Admission.Pairing({ request })
        }
        yield* Effect.logInfo("message from a sender who is not allowed: refused")
        return Admission.Refused()
      }
    )

    return { admit } as const
  }),
  dependencies: [Pairing.Default, TelegramStore.Default]
}) {}
