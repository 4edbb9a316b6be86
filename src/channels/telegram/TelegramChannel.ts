/**
 * The Telegram channel, as the daemon adds it when `[channels.telegram] enabled`: the sender
 * registered for replies, the bot's start-up (getMe, command menu), and intake by long polling
 * (a cluster singleton) or by webhook (a route on the `[http]` server), per `mode`.
 */
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import { AppConfig } from "../../config/Config.ts"
import { Outbound } from "../Outbound.ts"
import { Pairing } from "./Pairing.ts"
import { TelegramApi } from "./TelegramApi.ts"
import { TelegramBot } from "./TelegramBot.ts"
import { TelegramIntake } from "./TelegramIntake.ts"
import * as TelegramPoller from "./TelegramPoller.ts"
import { TelegramSender } from "./TelegramSender.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { TelegramTimings } from "./TelegramTimings.ts"
import * as TelegramWebhook from "./TelegramWebhook.ts"

const pruneEvery = Schedule.spaced(Duration.hours(1))

/** Replies go out through the Telegram sender; start-up says who will be answered. */
const Registration = Layer.scopedDiscard(
  Effect.gen(function*() {
    const { config } = yield* AppConfig
    const tg = config.channels.telegram
    const outbound = yield* Outbound
    const sender = yield* TelegramSender
    const store = yield* TelegramStore
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
    yield* outbound.register("telegram", { send: sender.send, typing: sender.typing })

    const prune = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* store.prune(now - Duration.toMillis(timings.handledRetention))
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
    AppConfig,
    ({ config }): IntakeLayer =>
      config.channels.telegram.mode === "webhook" ? TelegramWebhook.layer : TelegramPoller.layer
  )
)

const Services = TelegramIntake.Default.pipe(
  Layer.provideMerge(Layer.mergeAll(TelegramSender.Default, TelegramBot.Default, Pairing.Default)),
  Layer.provideMerge(Layer.merge(TelegramApi.Default, TelegramStore.Default))
)

/** The whole channel; needs the core runtime (conversations, history, outbound, readiness, cluster). */
export const layer = Layer.merge(Registration, Intake).pipe(Layer.provide(Services))
