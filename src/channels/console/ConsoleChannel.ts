/**
 * The terminal as a channel: a line in, the reply out. It goes through the same durable actors as
 * Telegram, so history, dedupe and failures behave the same; it proves the channel abstraction.
 */
import { Console, Deferred, Effect, Layer, Stream } from "effect"
import { randomUUID } from "node:crypto"
import * as readline from "node:readline"
import { ConsoleSettings } from "../../config/Config.ts"
import { Readiness } from "../../control/Readiness.ts"
import { InboundMessage } from "../../domain/Inbound.ts"
import { Actors } from "../../runtime/Actors.ts"
import { type ChannelSender, ConsoleOut, notEnabled, type OutboundMessage } from "../Outbound.ts"

const consoleUser = process.env.USER ?? "local"

/** Replies awaited by `ask`, by the id of the message they answer: the console's sender hands them over. */
class ConsoleReplies extends Effect.Service<ConsoleReplies>()("minibot/ConsoleReplies", {
  sync: () => {
    const waiting = new Map<string, Deferred.Deferred<OutboundMessage>>()
    const sender: ChannelSender = {
      send: (message) =>
        Effect.gen(function*() {
          const waiter = message.inReplyTo && waiting.get(message.inReplyTo.messageId)
          // A reply nobody waits for (redelivered after a restart) is still shown.
          if (waiter) yield* Deferred.succeed(waiter, message)
          else yield* Console.log(message.text)
          return { chunks: 1 }
        })
    }
    return { waiting, sender } as const
  }
}) {}

/** The console's sender, built before the actors; `minibot console` uses it whatever the config says. */
export const sender = Layer.effect(ConsoleOut, Effect.map(ConsoleReplies, (replies) => replies.sender)).pipe(
  Layer.provide(ConsoleReplies.Default)
)

export class ConsoleChannel extends Effect.Service<ConsoleChannel>()("minibot/ConsoleChannel", {
  dependencies: [ConsoleReplies.Default],
  scoped: Effect.gen(function*() {
    const actors = yield* Actors
    const readiness = yield* Readiness
    const { waiting } = yield* ConsoleReplies

    yield* readiness.ready("console")

    /** Sends one line to the conversation `console:<chatId>` and waits for its reply. */
    const ask = (text: string, chatId: string) => {
      const messageId = randomUUID()
      return Effect.gen(function*() {
        const reply = yield* Deferred.make<OutboundMessage>()
        waiting.set(messageId, reply)
        yield* actors.submit(
          new InboundMessage({
            messageId,
            conversation: { channel: "console", chatId },
            userId: consoleUser,
            text,
            receivedAt: Date.now(),
            requestId: messageId.slice(0, 8)
          })
        )
        return yield* Deferred.await(reply)
      }).pipe(Effect.ensuring(Effect.sync(() => waiting.delete(messageId))))
    }

    return { ask } as const
  })
}) {}

/** Lines of standard input; a prompt is shown when it is a terminal. */
export const stdinLines: Stream.Stream<string> = Stream.unwrapScoped(
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        readline.createInterface({
          input: process.stdin,
          output: process.stdout,
          terminal: process.stdin.isTTY === true
        })
      ),
      (rl) => Effect.sync(() => rl.close())
    ),
    (rl) => {
      if (process.stdin.isTTY) {
        rl.setPrompt("> ")
        rl.prompt()
      }
      return Stream.fromAsyncIterable(rl, (e) => e).pipe(Stream.orDie)
    }
  )
)

/** Answers each line of `lines` in turn (one conversation), printing every reply. */
export const chat = (lines: Stream.Stream<string>, chatId: string) =>
  Effect.gen(function*() {
    const channel = yield* ConsoleChannel
    yield* lines.pipe(
      Stream.map((line) => line.trim()),
      Stream.filter((line) => line.length > 0),
      Stream.runForEach((line) =>
        channel.ask(line, chatId).pipe(
          Effect.flatMap((reply) => Console.log(reply.text)),
          Effect.zipRight(Effect.sync(() => process.stdin.isTTY && process.stdout.write("> ")))
        )
      )
    )
  })

const whenEnabled = <A, E, R, E2, R2>(on: Layer.Layer<A, E, R>, off: Layer.Layer<A, E2, R2>) =>
  Layer.unwrapEffect(
    Effect.map(ConsoleSettings, (console): Layer.Layer<A, E | E2, R | R2> => console.enabled ? on : off)
  )

/** The daemon's console sender: `[channels.console] enabled`, or a stand-in. */
export const daemonSender = whenEnabled(sender, Layer.succeed(ConsoleOut, notEnabled("console")))

/** `[channels.console] enabled` in the daemon: chat on the daemon's terminal. */
export const layer = whenEnabled(
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const readiness = yield* Readiness
      yield* readiness.expect("console")
      yield* chat(stdinLines, "local").pipe(Effect.forkScoped)
    })
  ).pipe(Layer.provide(ConsoleChannel.Default)),
  Layer.empty
)
