/**
 * The Telegram channel, as the daemon adds it when `[channels.telegram] enabled`: the sender of
 * replies (built before the actors, from the API client alone), the bot's start-up (getMe, command
 * menu), and intake by long polling (a cluster singleton) or by webhook (a route on the `[http]`
 * server), per `mode`. When the channel is off, both layers stand aside.
 */
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { TelegramSettings } from "../../config/Config.ts"
import { MediaGroups } from "../../media/MediaGroups.ts"
import { notEnabled, TelegramOut } from "../Outbound.ts"
import { Pairing } from "./Pairing.ts"
import { TelegramApi } from "./TelegramApi.ts"
import { TelegramBot } from "./TelegramBot.ts"
import { TelegramFiles } from "./TelegramFiles.ts"
import { TelegramIntake } from "./TelegramIntake.ts"
import * as TelegramPoller from "./TelegramPoller.ts"
import { TelegramSender } from "./TelegramSender.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { TelegramTimings } from "./TelegramTimings.ts"
import * as TelegramWebhook from "./TelegramWebhook.ts"

const pruneEvery = Schedule.spaced(Duration.hours(1))

/** Start-up says who will be answered; handled update ids and album parts are pruned hourly. */
const Housekeeping = Layer.scopedDiscard(
  Effect.gen(function*() {
    const tg = yield* TelegramSettings
    const store = yield* TelegramStore
    const albums = yield* MediaGroups
    const timings = yield* TelegramTimings

    if (tg.allowed_user_ids.length === 0 && tg.allowed_chat_ids.length === 0) {
      yield* tg.dm_policy === "pairing"
        ? Effect.logInfo(
          "[channels.telegram] allows no ids: only users approved with `minibot pairing approve CODE` are answered"
        )
        : Effect.logWarning(
          "[channels.telegram] allowed_user_ids and allowed_chat_ids are both empty: nobody will be answered. " +
            "Write to the bot: its refusal tells you your user id and the chat id. Add them to allowed_user_ids " +
            "(or allowed_chat_ids for a group) and restart, or set dm_policy = \"pairing\""
        )
    }

    const prune = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* store.prune(now - Duration.toMillis(timings.handledRetention))
      yield* albums.prune(now - Duration.toMillis(timings.handledRetention))
    }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("pruning handled Telegram updates failed", cause)))
    yield* prune.pipe(Effect.repeat(pruneEvery), Effect.forkScoped)
  }).pipe(Effect.annotateLogs("component", "telegram"))
)

type IntakeLayer = Layer.Layer<
  never,
  never,
  Layer.Layer.Context<typeof TelegramWebhook.layer | typeof TelegramPoller.layer>
>

const Intake = Layer.unwrapEffect(
  Effect.map(
    TelegramSettings,
    (tg): IntakeLayer => tg.mode === "webhook" ? TelegramWebhook.layer : TelegramPoller.layer
  )
)

// One API client (rate limits, flood waits) shared by the sender and intake: the same layer value is built once.
const Sender = Layer.merge(TelegramSender.Default, TelegramFiles.Default).pipe(Layer.provide(TelegramApi.Default))
const Client = Layer.merge(TelegramApi.Default, TelegramStore.Default)

const Services = TelegramIntake.Default.pipe(
  Layer.provideMerge(Layer.mergeAll(Sender, TelegramBot.Default, Pairing.Default)),
  Layer.provideMerge(Client)
)

const whenEnabled = <A, E, R, E2, R2>(on: Layer.Layer<A, E, R>, off: Layer.Layer<A, E2, R2>) =>
  Layer.unwrapEffect(
    Effect.map(TelegramSettings, (tg): Layer.Layer<A, E | E2, R | R2> => tg.enabled ? on : off)
  )

/**
 * Replies to Telegram chats, and the files people sent there; needs only the API client, so the
 * actors can use it from their first turn.
 */
export const sender = whenEnabled(
  Layer.effect(
    TelegramOut,
    Effect.gen(function*() {
      const s = yield* TelegramSender
      const files = yield* TelegramFiles
      return { send: s.send, typing: s.typing, preview: s.preview, fetchFile: files.fetchFile }
    })
  ).pipe(
    Layer.provide(Sender)
  ),
  Layer.succeed(TelegramOut, notEnabled("telegram"))
)

/** Start-up and intake; needs the core runtime (conversations, history, outbound, readiness, cluster). */
export const layer = whenEnabled(Layer.merge(Housekeeping, Intake).pipe(Layer.provide(Services)), Layer.empty)
