/**
 * What of a conversation's past a request carries. Without `[llm.context] max_context_tokens`:
 * the newest `history_window` turns. With it: every stored turn after the conversation's summary,
 * and when the prompt (system prompt, summary, those turns, the new message, the tool definitions)
 * would be larger than the budget, the oldest whole turns are summarised by the model, with the
 * summary before them, into a new summary that replaces them in requests. Whole turns only: a
 * tool call never goes without its result. The turns stay stored (dashboard, export); `/reset`
 * forgets the summary with them.
 *
 * Tokens are estimated from characters, calibrated by the API: after each completion the ratio
 * of the characters sent to the `prompt_tokens` it reported becomes the estimate's ratio.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Clock, Effect, Option, Ref, Schema } from "effect"
import { LlmSettings, MemorySettings } from "../config/Config.ts"
import * as Chat from "../domain/ChatMessage.ts"
import type { ConversationKey } from "../domain/Conversation.ts"
import { Llm, type TokenUsage } from "../llm/Llm.ts"
import { ToolRegistry } from "../tools/ToolRegistry.ts"
import { HistoryStore } from "./HistoryStore.ts"
import type { Turn } from "./Turns.ts"

/** Characters per token before the API has reported any usage (English text with OpenAI's tokenizers). */
const initialCharsPerToken = 4
/** What a message costs beyond its text (role, separators), in characters. */
const messageOverheadChars = 16
/** After a summary the remaining turns take at most this share of the budget: room for the next turns. */
const keptShare = 0.5
/** A summary is asked to stay within this share of the budget. */
const summaryShare = 0.15
/** One message of the transcript given to the summariser is cut at this length. */
const transcriptMessageChars = 4_000

export const summaryIntro = "Summary of the earlier part of this conversation (older messages are not shown):\n"

const summariserPrompt = (words: number) =>
  "You maintain a running summary of a conversation between a user and an assistant, for the assistant's own " +
  "later use. Merge the previous summary (if any) with the new messages into one summary: keep facts about the " +
  "user, names, numbers, decisions, commitments, open questions and what was already answered. Leave out small " +
  `talk. Write plain prose or short bullet points, at most ${words} words. Answer with the summary only.`

const charsOfMessage = (message: Chat.ChatMessage) =>
  messageOverheadChars + (message.content?.length ?? 0) +
  (message._tag === "assistant"
    ? message.tool_calls.reduce((n, c) => n + c.function.name.length + c.function.arguments.length, 0)
    : 0)

export const charsOf = (messages: ReadonlyArray<Chat.ChatMessage>) =>
  messages.reduce((n, m) => n + charsOfMessage(m), 0)

/** A turn as the summariser reads it. */
const transcript = (turns: ReadonlyArray<Turn<Chat.ChatMessage>>) =>
  turns.flatMap((turn) =>
    turn.messages.flatMap((m) => {
      const cut = (text: string) =>
        text.length > transcriptMessageChars ? `${text.slice(0, transcriptMessageChars)} [...]` : text
      switch (m._tag) {
        case "user":
          return [`User: ${cut(m.content)}`]
        case "assistant":
          return [
            ...(m.content ? [`Assistant: ${cut(m.content)}`] : []),
            ...m.tool_calls.map((c) => `Assistant used ${c.function.name}(${cut(c.function.arguments)})`)
          ]
        case "tool":
          return [`Tool result: ${cut(m.content)}`]
        case "system":
          return []
      }
    })
  ).join("\n")

const SummaryRow = Schema.Struct({ summary: Schema.String, through_turn_id: Schema.String })

export interface ContextFill {
  /** Estimated tokens of the prompt as the next request would start it (before the new message). */
  readonly tokens: number
  /** `[llm.context] max_context_tokens`, when set. */
  readonly max: Option.Option<number>
  readonly summarised: boolean
}

export class ContextBudget extends Effect.Service<ContextBudget>()("minibot/ContextBudget", {
  effect: Effect.gen(function*() {
    const { context } = yield* LlmSettings
    const { max_history_messages } = yield* MemorySettings
    const history = yield* HistoryStore
    const llm = yield* Llm
    const tools = yield* ToolRegistry
    const sql = yield* SqlClient.SqlClient
    const charsPerToken = yield* Ref.make(initialCharsPerToken)
    const toolChars = JSON.stringify(tools.specs()).length

    const findSummary = SqlSchema.findOne({
      Request: Schema.String,
      Result: SummaryRow,
      execute: (key) => sql`SELECT summary, through_turn_id FROM conversation_summaries WHERE conversation_key = ${key}`
    })
    const storeSummary = (key: ConversationKey, summary: string, through: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        sql`
          INSERT INTO conversation_summaries (conversation_key, summary, through_turn_id, updated_at)
          VALUES (${key}, ${summary}, ${through}, ${now})
          ON CONFLICT (conversation_key) DO UPDATE SET
            summary = excluded.summary, through_turn_id = excluded.through_turn_id, updated_at = excluded.updated_at
        `).pipe(Effect.asVoid, Effect.orDie)

    const tokensOf = (chars: number) => Effect.map(Ref.get(charsPerToken), (ratio) => Math.ceil(chars / ratio))

    /** The summary and the turns after it (every stored turn when there is none, or it covers trimmed turns only). */
    const stored = (key: ConversationKey) =>
      Effect.gen(function*() {
        const summary = yield* findSummary(key).pipe(Effect.orDie)
        const turns = yield* history.turns(key, max_history_messages)
        if (Option.isNone(summary)) return { summary, turns }
        const covered = turns.findIndex((t) => t.turnId === summary.value.through_turn_id)
        return { summary, turns: turns.slice(covered + 1) }
      })

    const summaryMessage = (summary: string) => Chat.system(summaryIntro + summary)

    const summarise = (previous: Option.Option<string>, turns: ReadonlyArray<Turn<Chat.ChatMessage>>, max: number) =>
      Effect.gen(function*() {
        const ratio = yield* Ref.get(charsPerToken)
        // The summariser's own request stays within the budget: the newest part of a huge transcript.
        const room = Math.floor(max * ratio * (1 - summaryShare)) - summariserPrompt(0).length
        const text = [
          ...(Option.isSome(previous) ? [`Previous summary:\n${previous.value}`] : []),
          `New messages:\n${transcript(turns)}`
        ].join("\n\n")
        const completion = yield* llm.complete({
          messages: [
            Chat.system(summariserPrompt(Math.max(50, Math.floor(max * summaryShare * 0.75)))),
            Chat.user(text.length > room ? text.slice(text.length - room) : text)
          ]
        })
        const summary = completion.content?.trim() ?? ""
        return summary === "" ? yield* Effect.fail("the model returned an empty summary") : summary
      })

    /**
     * The past for a request whose own messages are `fixed` (the system prompt, the new message):
     * the window, or the summary and the turns after it, summarising older turns first when the
     * prompt would exceed the budget.
     */
    const past = Effect.fn("ContextBudget.past")(
      function*(key: ConversationKey, fixed: ReadonlyArray<Chat.ChatMessage>) {
        const max = context.max_context_tokens
        if (max === undefined) return yield* history.window(key, context.history_window)
        const { summary, turns } = yield* stored(key)
        const fixedChars = charsOf(fixed) + toolChars
        const summaryChars = Option.match(summary, {
          onNone: () => 0,
          onSome: (s) => charsOf([summaryMessage(s.summary)])
        })
        const turnChars = turns.map((t) => charsOf(t.messages))
        const total = yield* tokensOf(fixedChars + summaryChars + turnChars.reduce((a, b) => a + b, 0))
        const carried = (rest: ReadonlyArray<Turn<Chat.ChatMessage>>, text: Option.Option<string>) => [
          ...Option.match(text, { onNone: () => [], onSome: (s) => [summaryMessage(s)] }),
          ...rest.flatMap((t) => t.messages)
        ]
        if (total <= max || turns.length === 0) return carried(turns, Option.map(summary, (s) => s.summary))

        // The oldest turns go into the summary until the rest (with a summary) takes at most keptShare of the budget.
        const target = max * keptShare
        let dropped = 0
        let rest = turnChars.reduce((a, b) => a + b, 0)
        const allowance = max * summaryShare
        while (
          dropped < turns.length && (yield* tokensOf(fixedChars + rest)) + allowance > target
        ) {
          rest -= turnChars[dropped]!
          dropped++
        }
        const older = turns.slice(0, dropped)
        const kept = turns.slice(dropped)
        if (older.length === 0) return carried(kept, Option.map(summary, (s) => s.summary))
        const made = yield* summarise(Option.map(summary, (s) => s.summary), older, max).pipe(Effect.either)
        if (made._tag === "Left") {
          // Without a new summary this request still stays under the budget; the next turn tries again.
          yield* Effect.logWarning("summarising older messages failed: they are left out of this request", made.left)
          return carried(kept, Option.map(summary, (s) => s.summary))
        }
        yield* storeSummary(key, made.right, older.at(-1)!.turnId)
        yield* Effect.logInfo("older messages summarised").pipe(
          Effect.annotateLogs({ turns: older.length, summary_chars: made.right.length })
        )
        return carried(kept, Option.some(made.right))
      }
    )

    /** Calibrates the estimate with the prompt tokens the API counted for `messages`. */
    const observe = (messages: ReadonlyArray<Chat.ChatMessage>, withTools: boolean, usage: TokenUsage | undefined) =>
      usage === undefined || usage.promptTokens <= 0
        ? Effect.void
        : Ref.set(
          charsPerToken,
          Math.min(8, Math.max(1, (charsOf(messages) + (withTools ? toolChars : 0)) / usage.promptTokens))
        )

    /** How full the next request's context is (`/status`). */
    const fill = (key: ConversationKey) =>
      Effect.gen(function*(): Effect.fn.Return<ContextFill> {
        const system = [Chat.system(context.system_prompt)]
        const max = Option.fromNullable(context.max_context_tokens)
        if (Option.isNone(max)) {
          const window = yield* history.window(key, context.history_window)
          return { tokens: yield* tokensOf(charsOf([...system, ...window]) + toolChars), max, summarised: false }
        }
        const { summary, turns } = yield* stored(key)
        const carried = [
          ...system,
          ...Option.match(summary, { onNone: () => [], onSome: (s) => [summaryMessage(s.summary)] }),
          ...turns.flatMap((t) => t.messages)
        ]
        return { tokens: yield* tokensOf(charsOf(carried) + toolChars), max, summarised: Option.isSome(summary) }
      })

    /** Forgets the conversation's summary (`/reset`). */
    const clear = (key: ConversationKey) =>
      sql`DELETE FROM conversation_summaries WHERE conversation_key = ${key}`.pipe(Effect.asVoid, Effect.orDie)

    return { past, observe, fill, clear } as const
  })
}) {}
