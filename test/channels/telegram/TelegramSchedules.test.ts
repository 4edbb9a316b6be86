/**
 * The Telegram channel's retry and supervision schedules, alone on the TestClock: how many calls
 * Telegram sees, when, and what the log says before each wait.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Layer, Logger, TestClock } from "effect"
import type { Message } from "grammy/types"
import { TelegramApi, TelegramError } from "../../../src/channels/telegram/TelegramApi.ts"
import { untilAccepted } from "../../../src/channels/telegram/TelegramBot.ts"
import { supervise } from "../../../src/channels/telegram/TelegramPoller.ts"
import { pollRetry, stallWatch, storageRetry } from "../../../src/channels/telegram/TelegramSchedules.ts"
import { TelegramSender } from "../../../src/channels/telegram/TelegramSender.ts"
import { defaultTelegramTimings as timings } from "../../../src/channels/telegram/TelegramTimings.ts"
import { makeConfig, TelegramSettings } from "../../../src/config/Config.ts"

const apiError = (method: string, code: number, description: string, retryAfter?: number) =>
  new TelegramError({ method, kind: "api", code, description, ...(retryAfter === undefined ? {} : { retryAfter }) })
const networkError = (method: string) => new TelegramError({ method, kind: "network", description: "ECONNRESET" })

/** A call that fails with `failures` in turn, then succeeds; records when (TestClock ms) it was made. */
const scripted = <E>(failures: ReadonlyArray<E>) => {
  const calls: Array<number> = []
  const call = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    calls.push(now)
    const failure = failures[calls.length - 1]
    return failure === undefined ? Effect.succeed("ok" as const) : Effect.fail(failure)
  })
  return { calls, call }
}

/** Runs `effect` with its log captured, advancing the TestClock far enough for every retry. */
const runOnClock = <A, E>(effect: Effect.Effect<A, E>, advance: Duration.DurationInput = "10 minutes") =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message }) => void logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
    )
    const fiber = yield* Effect.fork(Effect.provide(effect, capture))
    yield* TestClock.adjust(advance)
    const exit = yield* Fiber.await(fiber)
    return { exit, logs }
  })

const seconds = (ms: ReadonlyArray<number>) => ms.map((t) => t / 1000)

describe("untilAccepted (getMe, deleteWebhook, setWebhook at start-up)", () => {
  it.effect("retries network errors, 5xx, 409 and 429 with a doubling wait, a 429's retry_after when longer", () =>
    Effect.gen(function*() {
      const { call, calls } = scripted([
        networkError("getMe"),
        apiError("getMe", 502, "Bad Gateway"),
        apiError("getMe", 409, "Conflict"),
        apiError("getMe", 429, "Too Many Requests", 20)
      ])
      const { exit, logs } = yield* runOnClock(untilAccepted("getMe", call))
      expect(exit).toEqual(Exit.succeed("ok"))
      // Waits of 1 s, 2 s, 4 s, then the 20 s Telegram asked for.
      expect(seconds(calls)).toEqual([0, 1, 3, 7, 27])
      // The channel is reported failing once, at the first failure, then each wait is logged.
      expect(logs).toEqual([
        "channel failing: getMe failed (network): ECONNRESET",
        "getMe failed: ECONNRESET; retrying in 1s",
        "getMe failed: Bad Gateway; retrying in 2s",
        "getMe failed: Conflict; retrying in 4s",
        "getMe failed: Too Many Requests; retrying in 20s"
      ])
    }))

  it.effect("keeps trying for as long as it takes, the wait capped at retryCap", () =>
    Effect.gen(function*() {
      const { call, calls } = scripted(Array.from({ length: 8 }, () => networkError("deleteWebhook")))
      const { exit } = yield* runOnClock(untilAccepted("deleteWebhook", call))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(seconds(calls)).toEqual([0, 1, 3, 7, 15, 31, 61, 91, 121])
    }))

  it.effect("a rejected token stops at once, as BotTokenRejected", () =>
    Effect.gen(function*() {
      const { call, calls } = scripted([apiError("getMe", 401, "Unauthorized")])
      const { exit, logs } = yield* runOnClock(untilAccepted("getMe", call))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "BotTokenRejected", method: "getMe" })))
      expect(calls).toHaveLength(1)
      expect(logs).toEqual([])
    }))

  it.effect("another 4xx fails with Telegram's error after one call", () =>
    Effect.gen(function*() {
      const refused = apiError("setWebhook", 400, "bad webhook: HTTPS url must be provided")
      const { call, calls } = scripted([refused])
      const { exit } = yield* runOnClock(untilAccepted("setWebhook", call))
      expect(exit).toEqual(Exit.fail(refused))
      expect(calls).toHaveLength(1)
    }))
})

describe("pollRetry (getUpdates)", () => {
  it.effect("backs off on conflicts and network errors, saying which it was", () =>
    Effect.gen(function*() {
      const { call, calls } = scripted([
        apiError("getUpdates", 409, "Conflict: terminated by other getUpdates request"),
        apiError("getUpdates", 409, "Conflict: terminated by other getUpdates request"),
        networkError("getUpdates"),
        apiError("getUpdates", 400, "Bad Request: wrong offset")
      ])
      const { exit, logs } = yield* runOnClock(Effect.retry(call, pollRetry(timings)))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(seconds(calls)).toEqual([0, 1, 3, 7, 15])
      expect(logs[0]).toBe(
        "getUpdates conflict: another process polls this bot, or a webhook is set " +
          "(Conflict: terminated by other getUpdates request); retrying in 1s"
      )
      expect(logs.slice(2)).toEqual([
        "getUpdates failed: ECONNRESET; retrying in 4s",
        "getUpdates failed: Bad Request: wrong offset; retrying in 8s"
      ])
    }))

  it.effect("a rejected token is not retried", () =>
    Effect.gen(function*() {
      const { call, calls } = scripted([networkError("getUpdates"), apiError("getUpdates", 401, "Unauthorized")])
      const { exit } = yield* runOnClock(Effect.retry(call, pollRetry(timings)))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ code: 401 })))
      expect(seconds(calls)).toEqual([0, 1])
    }))
})

describe("storageRetry (storing updates and the offset while polling)", () => {
  it.effect("retries until the database answers, logging each wait", () =>
    Effect.gen(function*() {
      const diskError = { message: "disk I/O error" }
      const { call, calls } = scripted([diskError, diskError, diskError])
      const { exit, logs } = yield* runOnClock(Effect.retry(call, storageRetry(timings, "storing the polling offset")))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(seconds(calls)).toEqual([0, 1, 3, 7])
      expect(logs[0]).toBe("storing the polling offset failed (disk I/O error); retrying in 1s")
    }))
})

describe("sendRetry (TelegramSender)", () => {
  const reply = { conversation: { channel: "telegram", chatId: "42" }, text: "the answer", kind: "notice" } as const

  /** The sender over a Bot API whose sendMessage fails with `failures` in turn. */
  const sendWith = (failures: ReadonlyArray<TelegramError>) => {
    const { call, calls } = scripted(failures)
    const unused = Effect.die("not used by the sender")
    const api = TelegramApi.make({
      getMe: unused,
      getUpdates: () => unused,
      sendMessage: () => Effect.as(call, {} as Message.TextMessage),
      sendDraft: () => unused,
      sendPlaceholder: () => unused,
      editPreview: () => unused,
      editMessageText: () => unused,
      deleteMessage: () => unused,
      sendTyping: () => unused,
      setMyCommands: () => unused,
      deleteWebhook: unused,
      getFile: () => unused,
      download: () => unused,
      setWebhook: () => unused,
      scrub: (text) => text
    })
    const send = Effect.flatMap(TelegramSender, (sender) => sender.send(reply)).pipe(
      Effect.provide(TelegramSender.Default.pipe(
        Layer.provide(Layer.succeed(TelegramApi, api)),
        Layer.provide(Layer.succeed(TelegramSettings, makeConfig().channels.telegram))
      ))
    )
    return { send, calls }
  }

  it.effect("a message without a clear answer is sent again, at most twice more, 1 s then 2 s later", () =>
    Effect.gen(function*() {
      const { calls, send } = sendWith([networkError("sendMessage"), apiError("sendMessage", 502, "Bad Gateway")])
      const { exit, logs } = yield* runOnClock(send)
      expect(exit).toEqual(Exit.succeed({ chunks: 1 }))
      expect(seconds(calls)).toEqual([0, 1, 3])
      expect(logs).toEqual([
        "sending a message got no clear answer (ECONNRESET); retrying in 1s, it may show twice",
        "sending a message got no clear answer (Bad Gateway); retrying in 2s, it may show twice"
      ])
    }))

  it.effect("after three unclear answers the delivery fails, not permanently", () =>
    Effect.gen(function*() {
      const { calls, send } = sendWith(Array.from({ length: 3 }, () => networkError("sendMessage")))
      const { exit } = yield* runOnClock(send)
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "DeliveryError", permanent: false })))
      expect(seconds(calls)).toEqual([0, 1, 3])
    }))

  it.effect("a clear refusal (blocked by the user) is never sent again", () =>
    Effect.gen(function*() {
      const { calls, send } = sendWith([apiError("sendMessage", 403, "Forbidden: bot was blocked by the user")])
      const { exit } = yield* runOnClock(send)
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "DeliveryError", permanent: true })))
      expect(calls).toHaveLength(1)
    }))
})

describe("poller supervision", () => {
  it.effect("polling that dies is restarted every retryCap (pollerRestart), each failure logged", () =>
    Effect.gen(function*() {
      const { call, calls } = scripted([Cause.die("bug"), Cause.die("bug")])
      const run = Effect.catchAll(call, Effect.failCause)
      const { exit, logs } = yield* runOnClock(supervise(run))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(seconds(calls)).toEqual([0, 30, 60])
      expect(logs).toEqual([
        "Telegram polling failed unexpectedly: restarting it",
        "Telegram polling failed unexpectedly: restarting it"
      ])
    }))

  it.effect("the stall watch looks every stallCheck and stops at the first look that finds a stall", () =>
    Effect.gen(function*() {
      const stalledAfter = Duration.toMillis(timings.stallLimit)
      const looks: Array<number> = []
      const look = Effect.map(Clock.currentTimeMillis, (now) => {
        looks.push(now)
        return now > stalledAfter
      })
      const fiber = yield* Effect.fork(Effect.repeat(look, stallWatch(timings)))
      yield* TestClock.adjust(timings.stallLimit)
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(timings.stallCheck)
      yield* Fiber.join(fiber)
      expect(seconds(looks)).toEqual(Array.from({ length: 20 }, (_, i) => i * 5))
    }))
})
