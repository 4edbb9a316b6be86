/** `/api/channels/{name}/pause` and `/resume`: stop and restart a channel's intake, losing nothing. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { Bus, BusEvent } from "../../bus/Bus.ts"
import { ChannelGate } from "../../channels/ChannelGate.ts"
import { AppConfig } from "../../config/Config.ts"
import type { ChannelName } from "../../domain/Conversation.ts"
import { Api, Conflict } from "./Api.ts"

export const ChannelsHandlers = HttpApiBuilder.group(Api, "channels", (handlers) =>
  Effect.gen(function*() {
    const gate = yield* ChannelGate
    const bus = yield* Bus
    const { config } = yield* AppConfig

    /** Only Telegram takes messages from outside; the console is the terminal of `minibot console`. */
    const pausable = (name: ChannelName) =>
      name !== "telegram"
        ? Effect.fail(new Conflict({ message: `the ${name} channel cannot be paused (only telegram can)` }))
        : !config.channels.telegram.enabled
        ? Effect.fail(new Conflict({ message: "the telegram channel is not enabled" }))
        : Effect.void

    const changed = (name: ChannelName, state: "running" | "paused") =>
      Effect.zipRight(
        Effect.zipRight(
          bus.publish(BusEvent.ChannelState({ channel: name, state, reason: "operator" })),
          Effect.logInfo(`channel ${state === "paused" ? "paused" : "resumed"} by the operator`).pipe(
            Effect.annotateLogs({ component: "api", channel: name })
          )
        ),
        Effect.succeed({ channel: name, state })
      )

    return handlers
      .handle("pause", ({ path }) =>
        Effect.gen(function*() {
          yield* pausable(path.name)
          if (!(yield* Effect.orDie(gate.pause(path.name)))) {
            return yield* new Conflict({ message: `the ${path.name} channel is already paused` })
          }
          return yield* changed(path.name, "paused")
        }))
      .handle("resume", ({ path }) =>
        Effect.gen(function*() {
          yield* pausable(path.name)
          if (!(yield* Effect.orDie(gate.resume(path.name)))) {
            return yield* new Conflict({ message: `the ${path.name} channel is not paused` })
          }
          return yield* changed(path.name, "running")
        }))
  }))
