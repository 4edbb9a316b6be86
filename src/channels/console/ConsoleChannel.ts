/**
 * The terminal as a channel: a line in, the reply out. It goes through the same durable actors as
 * Telegram, so history, dedupe and failures behave the same; it proves the channel abstraction.
 * The chat commands (`/help`, `/stop`...) are the same as on every channel (`ChatCommands`).
 */
import { Deferred, Effect, Layer, Option, Queue, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { ChatCommand, ChatCommands, parseLine } from "../../commands/ChatCommands.ts"
import { ConsoleSettings } from "../../config/Config.ts"
import { Readiness } from "../../control/Readiness.ts"
import type { ConversationRef } from "../../domain/Conversation.ts"
import { InboundMessage } from "../../domain/Inbound.ts"
import { Actors, type SubmitError } from "../../runtime/Actors.ts"
import { stoppedText } from "../../runtime/ConversationTurn.ts"
import {
  type ChannelSender,
  ConsoleOut,
  notEnabled,
  type OutboundMessage,
  type PreviewTarget,
  type ReplyPreview
} from "../Outbound.ts"
import { ConsoleTerminal } from "./ConsoleTerminal.ts"

const consoleUser = process.env.USER ?? "local"

/** A reply to a line, and whether it is already on screen (printed while it was written). */
interface Replied {
  readonly message: OutboundMessage
  readonly shown: boolean
}

/** A line waiting for its reply; `live`: the reply is printed while it is written (on a TTY). */
interface Waiter {
  readonly reply: Deferred.Deferred<Replied>
  readonly live: boolean
}

/** Replies awaited by `reply`, by the id of the message they answer: the console's sender hands them over. */
class ConsoleReplies extends Effect.Service<ConsoleReplies>()("minibot/ConsoleReplies", {
  effect: Effect.gen(function*() {
    const terminal = yield* ConsoleTerminal
    const waiting = new Map<string, Waiter>()
    const waiterOf = (message: PreviewTarget) => message.inReplyTo && waiting.get(message.inReplyTo.messageId)
    const sender: ChannelSender = {
      send: (message) =>
        Effect.gen(function*() {
          const waiter = waiterOf(message)
          // A reply nobody waits for (a reminder, or redelivered after a restart) is still shown.
          if (waiter) yield* Deferred.succeed(waiter.reply, { message, shown: false })
          else yield* terminal.print(message.text)
          return { chunks: 1 }
        }),
      preview: (target) => {
        const waiter = waiterOf(target)
        if (!waiter?.live) return Effect.succeed(Option.none())
        return Effect.map(
          terminal.live,
          Option.map((live): ReplyPreview => ({
            show: live.show,
            deliver: (message) =>
              live.finish(message.text).pipe(
                Effect.zipRight(Deferred.succeed(waiter.reply, { message, shown: true })),
                Effect.as({ chunks: 1 })
              )
          }))
        )
      }
    }
    return { waiting, sender } as const
  })
}) {}

/** The console's sender, built before the actors, with the terminal it prints on (a stand-in in tests). */
export const senderOn = (terminal: Layer.Layer<ConsoleTerminal>) =>
  Layer.effect(ConsoleOut, Effect.map(ConsoleReplies, (replies) => replies.sender)).pipe(
    Layer.provide(ConsoleReplies.Default),
    Layer.provideMerge(terminal)
  )

/** The console's sender on stdin and stdout; `minibot console` uses it whatever the config says. */
export const sender = senderOn(ConsoleTerminal.Default)

export class ConsoleChannel extends Effect.Service<ConsoleChannel>()("minibot/ConsoleChannel", {
  // The terminal is the sender's (`senderOn`), and so are the replies (one layer, built once).
  dependencies: [ConsoleReplies.Default, ChatCommands.Default],
  scoped: Effect.gen(function*() {
    const actors = yield* Actors
    const readiness = yield* Readiness
    const commands = yield* ChatCommands
    const terminal = yield* ConsoleTerminal
    const { waiting } = yield* ConsoleReplies

    yield* readiness.ready("console")

    /** Sends one line to the conversation `console:<chatId>` and waits for its reply (printed as written when `live`). */
    const answer = (text: string, chatId: string, live: boolean) => {
      const messageId = randomUUID()
      return Effect.gen(function*() {
        const reply = yield* Deferred.make<Replied>()
        waiting.set(messageId, { reply, live })
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
      }).pipe(terminal.whileThinking, Effect.ensuring(Effect.sync(() => waiting.delete(messageId))))
    }

    /**
     * The reply to one line: a command's text, or the model's answer (printed while it is written
     * when `live` and the terminal can). None when a command stopped a running turn: that turn says
     * "Stopped." to the line it was answering.
     */
    const reply = (line: string, chatId: string, live: boolean): Effect.Effect<Option.Option<Replied>, SubmitError> => {
      const conversation: ConversationRef = { channel: "console", chatId }
      return Option.match(parseLine(line), {
        onNone: () => Effect.asSome(answer(line, chatId, live)),
        onSome: (command) =>
          commands.run(command, { conversation, userId: consoleUser, botName: "minibot" }).pipe(
            Effect.map(
              Option.map((text): Replied => ({ message: { conversation, text, kind: "notice" }, shown: false }))
            )
          )
      })
    }

    /**
     * One line, its reply (`minibot console --once`), whole: a script reading stdout gets the final
     * text once. A `/stop` that stopped a turn (one redelivered at start) has no reply of its own:
     * it says what happened.
     */
    const ask = (line: string, chatId: string) =>
      reply(line, chatId, false).pipe(
        Effect.map(Option.match({
          onSome: (replied) => replied.message,
          onNone: (): OutboundMessage => ({
            conversation: { channel: "console", chatId },
            text: stoppedText,
            kind: "notice"
          })
        }))
      )

    return { ask, reply } as const
  })
}) {}

/** Lines of standard input; a prompt is shown when it is a terminal. */
export const stdinLines: Stream.Stream<string, never, ConsoleTerminal> = Stream.unwrap(
  Effect.map(ConsoleTerminal, (terminal) => terminal.lines)
)

/**
 * Answers each line of `lines` in turn (one conversation), printing every reply (as it is written,
 * on a TTY). `/stop` does not wait for its turn: it stops the answer being prepared.
 */
export const chat = <R>(lines: Stream.Stream<string, never, R>, chatId: string) =>
  Effect.gen(function*() {
    const channel = yield* ConsoleChannel
    const terminal = yield* ConsoleTerminal
    const respond = (line: string) =>
      channel.reply(line, chatId, true).pipe(
        Effect.flatMap((replied) =>
          Option.isSome(replied) && !replied.value.shown ? terminal.print(replied.value.message.text) : Effect.void
        )
      )
    /** Lines waiting for the previous one's reply; `None` ends the input. */
    const inOrder = yield* Queue.unbounded<Option.Option<string>>()
    const answerInOrder = Queue.take(inOrder).pipe(
      Effect.flatMap(
        Option.match({ onNone: () => Effect.succeed(false), onSome: (line) => Effect.as(respond(line), true) })
      ),
      Effect.repeat({ while: (more) => more })
    )
    const read = lines.pipe(
      Stream.map((line) => line.trim()),
      Stream.filter((line) => line.length > 0),
      Stream.runForEach((line) =>
        Option.exists(parseLine(line), ChatCommand.$is("Stop"))
          ? respond(line)
          : Queue.offer(inOrder, Option.some(line))
      ),
      Effect.zipRight(Queue.offer(inOrder, Option.none()))
    )
    // Reading stops too if answering fails (the message could not be stored).
    yield* Effect.all([read, answerInOrder], { concurrency: 2, discard: true })
  })

const whenEnabled = <A, E, R, E2, R2>(on: Layer.Layer<A, E, R>, off: Layer.Layer<A, E2, R2>) =>
  Layer.unwrapEffect(
    Effect.map(ConsoleSettings, (console): Layer.Layer<A, E | E2, R | R2> => console.enabled ? on : off)
  )

/** The daemon's console sender: `[channels.console] enabled`, or a stand-in. */
export const daemonSender = whenEnabled(
  sender,
  Layer.merge(Layer.succeed(ConsoleOut, notEnabled("console")), ConsoleTerminal.Default)
)

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
