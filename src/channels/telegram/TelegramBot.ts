/**
 * Who the bot is (getMe: its id, and the @username that group messages mention) and its start-up
 * duties: the command menu is registered with setMyCommands only when it changed since the last
 * start (calling it on every start has earned bots flood bans). Start-up runs in the background:
 * the daemon does not wait for Telegram to answer; intake waits for `identity`.
 *
 * A 401 means the token is wrong: the channel logs it once, clearly, and stays stopped.
 */
import { Data, Deferred, Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { botCommands } from "../../commands/ChatCommands.ts"
import { Readiness } from "../../control/Readiness.ts"
import { ChannelHealth } from "../ChannelHealth.ts"
import { ChannelStatus } from "../ChannelStatus.ts"
import { type BotIdentity, isUnauthorized, TelegramApi, type TelegramError } from "./TelegramApi.ts"
import { untilAcceptedRetry } from "./TelegramSchedules.ts"
import { TelegramStore } from "./TelegramStore.ts"
import { TelegramTimings } from "./TelegramTimings.ts"

export class BotTokenRejected extends Data.TaggedError("BotTokenRejected")<{ readonly method: string }> {}

export const tokenRejectedMessage = (method: string) =>
  `Telegram rejected the bot token (401 Unauthorized on ${method}): the Telegram channel is stopped. ` +
  "Check [channels.telegram] bot_token (BotFather's /mybots > API Token) and restart"

/**
 * Calls `call` until Telegram accepts it (`untilAcceptedRetry`). Fails on a rejected token, and
 * with the error itself on any other 4xx but 409 and 429 (a bad request stays bad).
 */
export const untilAccepted = <A>(what: string, call: Effect.Effect<A, TelegramError>) =>
  Effect.flatMap(Effect.zip(TelegramTimings, ChannelHealth), ([timings, health]) =>
    call.pipe(
      // Until it is accepted, the channel takes no messages: the status says why.
      Effect.tapError((error) => health.failed("telegram", error.message, error.retryAfter)),
      Effect.retry(untilAcceptedRetry(timings, what)),
      Effect.catchIf(isUnauthorized, (error) => Effect.fail(new BotTokenRejected({ method: error.method })))
    ))

export const commandsHash = (commands: typeof botCommands) =>
  createHash("sha256").update(JSON.stringify(commands)).digest("hex")

export class TelegramBot extends Effect.Service<TelegramBot>()("minibot/TelegramBot", {
  scoped: Effect.gen(function*() {
    const api = yield* TelegramApi
    const store = yield* TelegramStore
    const readiness = yield* Readiness
    const status = yield* ChannelStatus
    const identity = yield* Deferred.make<BotIdentity>()
    yield* readiness.expect("telegram")
    yield* status.expect("telegram")
    const health = yield* ChannelHealth
    const stopped = (reason: string) =>
      Effect.logError(reason).pipe(
        Effect.zipRight(health.failed("telegram", reason)),
        Effect.zipRight(status.failed("telegram", reason))
      )

    const registerCommands = (bot: BotIdentity) =>
      Effect.gen(function*() {
        const hash = commandsHash(botCommands)
        const stored = yield* store.commandsHash(bot.id)
        if (Option.contains(stored, hash)) {
          return yield* Effect.logDebug("command menu unchanged since the last start: setMyCommands not called")
        }
        yield* api.setMyCommands(botCommands)
        yield* store.saveCommandsHash(bot.id, hash)
        yield* Effect.logInfo(`command menu registered: ${botCommands.map((c) => `/${c.command}`).join(" ")}`)
      }).pipe(Effect.catchAll((error) => Effect.logWarning(`could not register the command menu: ${error.message}`)))

    const connect = Effect.gen(function*() {
      const me = yield* untilAccepted("getMe", api.getMe)
      const bot: BotIdentity = { id: me.id, username: me.username, firstName: me.first_name }
      yield* Effect.logInfo(`connected to Telegram as @${bot.username} (bot id ${bot.id})`)
      yield* status.connected("telegram")
      // Polling needs only the identity: the command menu is registered meanwhile, not before it.
      yield* Deferred.succeed(identity, bot)
      yield* registerCommands(bot)
    }).pipe(
      Effect.catchTags({
        BotTokenRejected: (e) =>
          Effect.zipRight(stopped(tokenRejectedMessage(e.method)), readiness.notReady("telegram")),
        TelegramError: (e) => stopped(`Telegram refused ${e.method}: ${e.description}; the Telegram channel is stopped`)
      }),
      Effect.catchAllCause((cause) =>
        Effect.zipRight(
          Effect.logError("Telegram start-up failed", cause),
          status.failed("telegram", "start-up failed (see the log)")
        )
      ),
      Effect.annotateLogs("component", "telegram")
    )
    yield* Effect.forkScoped(connect)

    return {
      /** The bot, once getMe has answered (never, if the token was rejected). */
      identity: Deferred.await(identity)
    } as const
  })
}) {}
