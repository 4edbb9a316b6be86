/**
 * `ConversationTurn` over swapped layers, for tests of turn logic that run in milliseconds: a
 * scripted `Llm`, history in memory, the turn ledger and notes on SQLite in memory, a recording
 * sender for every channel, real built-in tools, and `TestActors` for `/stop`. No HTTP, no actors:
 * a test calls `turn.run` itself. Adapter and durability tests use `Harness.ts` instead.
 */
import { Context, Effect, Layer, Ref } from "effect"
import { Bus } from "../../src/bus/Bus.ts"
import {
  type ChannelSender,
  ConsoleOut,
  Outbound,
  type OutboundMessage,
  TelegramOut
} from "../../src/channels/Outbound.ts"
import { AppConfig, makeConfig } from "../../src/config/Config.ts"
import { InboundMessage, type ScheduledInfo, ScheduledPrompt } from "../../src/domain/Inbound.ts"
import { ContextBudget } from "../../src/memory/ContextBudget.ts"
import { HistoryStore } from "../../src/memory/HistoryStore.ts"
import { ConversationTurn } from "../../src/runtime/ConversationTurn.ts"
import { TurnLedger } from "../../src/runtime/TurnLedger.ts"
import * as Database from "../../src/storage/Database.ts"
import * as CalculatorTool from "../../src/tools/builtin/CalculatorTool.ts"
import * as ChatHistoryTools from "../../src/tools/builtin/ChatHistoryTools.ts"
import * as DateTimeTool from "../../src/tools/builtin/DateTimeTool.ts"
import * as NotesTools from "../../src/tools/builtin/NotesTools.ts"
import { NotesStore } from "../../src/tools/notes/NotesStore.ts"
import { UserTimezones } from "../../src/tools/timezone/UserTimezones.ts"
import { ToolRegistry } from "../../src/tools/ToolRegistry.ts"
import { type Answer, ScriptedLlm } from "./ScriptedLlm.ts"
import { TestActors } from "./TestActors.ts"

/** Every message the turns handed to a channel, in order. */
export class Sent extends Context.Tag("test/Sent")<Sent, Ref.Ref<ReadonlyArray<OutboundMessage>>>() {
  static readonly all = Effect.flatMap(Sent, Ref.get)
  static readonly texts = Effect.map(Sent.all, (sent) => sent.map((m) => m.text))
}

/** A sender for every channel that records what it is given in `Sent`. */
export const recordingSenders = Layer.effectContext(Effect.gen(function*() {
  const sent = yield* Ref.make<ReadonlyArray<OutboundMessage>>([])
  const sender: ChannelSender = {
    send: (message) => Effect.as(Ref.update(sent, (all) => [...all, message]), { chunks: 1 })
  }
  return Context.make(Sent, sent).pipe(Context.add(ConsoleOut, sender), Context.add(TelegramOut, sender))
}))

const tools = ToolRegistry.layer([
  CalculatorTool.group,
  DateTimeTool.group,
  NotesTools.group,
  ChatHistoryTools.group
]).pipe(Layer.provide(Layer.merge(NotesStore.Default, UserTimezones.Default)))

export interface TurnKitOptions {
  /** Config over the defaults, as in `config.toml`. */
  readonly config?: Record<string, unknown>
}

/** The turn and everything it talks to; the model answers with `answers`, in order. */
export const turnKit = (answers: ReadonlyArray<Answer>, options: TurnKitOptions = {}) =>
  ConversationTurn.Default.pipe(
    Layer.provideMerge(ContextBudget.Default),
    Layer.provideMerge(Layer.merge(tools, Outbound.Default)),
    Layer.provideMerge(Layer.mergeAll(
      HistoryStore.memory,
      TurnLedger.Default,
      Bus.memory,
      TestActors,
      ScriptedLlm.layer(...answers),
      recordingSenders
    )),
    Layer.provideMerge(Database.sqliteAt(":memory:")),
    Layer.provideMerge(AppConfig.layer(makeConfig(options.config ?? {}))),
    Layer.orDie
  )

/** Runs one turn. */
export const run = (input: InboundMessage | ScheduledPrompt) =>
  Effect.flatMap(ConversationTurn, (turn) => turn.run(input))

/** A person's message in a console chat. */
export const message = (chatId: string, text: string, messageId = `${chatId}-${text}`) =>
  new InboundMessage({
    messageId,
    conversation: { channel: "console", chatId },
    userId: `user-${chatId}`,
    text,
    receivedAt: 0,
    requestId: `req-${messageId}`
  })

/** A due job's prompt in a console chat. */
export const scheduled = (chatId: string, text: string, job: Partial<ScheduledInfo> = {}) =>
  new ScheduledPrompt({
    messageId: `job-${text}`,
    conversation: { channel: "console", chatId },
    text,
    receivedAt: 0,
    requestId: `req-job-${text}`,
    job: { jobId: "j1", ownerId: `console:user-${chatId}`, dueAt: 0, lateMs: 0, notify: true, timezone: "UTC", ...job }
  })

/** The requests the model received, in order. */
export const requests = Effect.flatMap(ScriptedLlm, (llm) => llm.requests)
