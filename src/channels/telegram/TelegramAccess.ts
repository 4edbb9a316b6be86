/**
 * Who the bot answers: the ids in `allowed_user_ids`/`allowed_chat_ids`, and the users approved
 * by pairing. Everyone else gets at most one short reply per chat per `refusalInterval` (a
 * refusal, or with `dm_policy = "pairing"` in private a pairing code) and nothing more: no LLM
 * call, no history. Over all chats, these replies are capped too (`strangerReplyBurst`, then one
 * per `strangerReplyInterval`): a flood of strangers costs a few messages, and their log lines
 * are summarised (`SummarisedLog`).
 */
import type { SqlError } from "@effect/sql"
import { Clock, Data, Duration, Effect, LogLevel, Metric, Option, type ParseResult } from "effect"
import { TelegramSettings } from "../../config/Config.ts"
import * as Metrics from "../../observability/Metrics.ts"
import { Pairing, PairingRequest } from "./Pairing.ts"
import { TokenBucket } from "./SendThrottle.ts"
import { SummarisedLog } from "./SummarisedLog.ts"
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
  /** Not allowed, and refused less than `refusalInterval` ago (or too many strangers now): nothing is sent. */
  Ignored: {}
  /** Not allowed: told so, with the ids the owner would add. */
  Refused: {}
  /** Not allowed, in private with `dm_policy = "pairing"`: a pairing code (or word to ask again later). */
  Pairing: { readonly request: PairingRequest }
}>
export const Admission = Data.taggedEnum<Admission>()

const refusalText = (userId: number, chatId: number) =>
  `Sorry, I only answer people my owner has allowed. Your user id is ${userId} and this chat's id is ${chatId}: ` +
  "the owner can add one of them to allowed_user_ids or allowed_chat_ids."
const pairingText = (code: string, userId: number) =>
  `I don't know you yet. To get access, give my owner this code: ${code} (valid for 1 hour). ` +
  `They approve it with: minibot pairing approve ${code}\n(Your user id is ${userId}.)`

const pairingLaterText = (userId: number) =>
  `I don't know you yet, and your last pairing code is no longer valid: try again later. (Your user id is ${userId}.)`

/** What the sender is told, if anything. */
export const replyTo = (sender: Sender, admission: Admission): Option.Option<string> =>
  Admission.$match(admission, {
    Admitted: () => Option.none(),
    Ignored: () => Option.none(),
    Refused: () => Option.some(refusalText(sender.userId, sender.chatId)),
    Pairing: ({ request }) =>
      Option.some(PairingRequest.$match(request, {
        Issued: ({ code }) => pairingText(code, sender.userId),
        TryLater: () => pairingLaterText(sender.userId)
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
    const summary = yield* SummarisedLog
    const strangerReplies = new TokenBucket(
      timings.strangerReplyBurst,
      1 / Duration.toMillis(timings.strangerReplyInterval),
      yield* Clock.currentTimeMillis
    )

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
        const now = yield* Clock.currentTimeMillis
        if (strangerReplies.waitFor(1, now) > 0) {
          yield* summary.note(
            LogLevel.Warning,
            "messages from senders who are not allowed, ignored: too many strangers are writing",
            `user ${sender.userId} in chat ${sender.chatId}`
          )
          return Admission.Ignored()
        }
        const due = yield* store.refusalDue(sender.chatId, timings.refusalInterval)
        if (!due) {
          yield* summary.note(
            LogLevel.Info,
            "messages from senders who are not allowed, ignored: refused less than an hour ago",
            `user ${sender.userId} in chat ${sender.chatId}`
          )
          return Admission.Ignored()
        }
        strangerReplies.take(now)
        yield* Metric.increment(Metrics.telegramRefusals)
        if (!sender.isGroup && tg.dm_policy === "pairing") {
          const request = yield* pairing.request({
            userId: sender.userId,
            chatId: sender.chatId,
            userName: sender.userName
          })
          yield* summary.note(
            LogLevel.Info,
            PairingRequest.$match(request, {
              Issued: () => "messages from unknown senders: pairing code sent (see `minibot pairing list`)",
              TryLater: () => "messages from unknown senders: asked for a new pairing code too soon, none issued"
            }),
            `user ${sender.userId}`
          )
          return Admission.Pairing({ request })
        }
        yield* summary.note(
          LogLevel.Info,
          "messages from senders who are not allowed: refused",
          `user ${sender.userId} in chat ${sender.chatId}`
        )
        return Admission.Refused()
      }
    )

    return { admit } as const
  }),
  dependencies: [Pairing.Default, TelegramStore.Default, SummarisedLog.Default]
}) {}
