/**
 * Issue 11, "long conversations": when the prompt would exceed `[llm.context] max_context_tokens`,
 * older turns are summarised by the model into a stored summary that replaces them in requests;
 * the originals stay stored, tool calls stay with their results, `/status` shows how full the
 * context is and `/reset` forgets the summary too. Real HTTP to the fake OpenAI server, real SQLite.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, type Scope } from "effect"
import * as Layers from "../../src/app/Layers.ts"
import { ChatCommands, parseLine } from "../../src/commands/ChatCommands.ts"
import { AppConfig } from "../../src/config/Config.ts"
import { conversationKey } from "../../src/domain/Conversation.ts"
import { Llm } from "../../src/llm/Llm.ts"
import { summaryIntro } from "../../src/memory/ContextBudget.ts"
import { HistoryStore } from "../../src/memory/HistoryStore.ts"
import * as Database from "../../src/storage/Database.ts"
import { type FakeChatRequest, FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { type Harness, type HarnessOptions, makeHarness } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"

const budget = 3600

/** The prompt tokens the fake API reports for a request (its own count: 4 characters a token). */
const promptTokens = (request: FakeChatRequest) =>
  request.messages.reduce((n, m) => n + Math.max(1, Math.ceil(String(m.content ?? "").length / 4)), 0) +
  (request.tools === undefined ? 0 : Math.ceil(JSON.stringify(request.tools).length / 4))

const isSummaryRequest = (request: FakeChatRequest) =>
  String(request.messages[0]?.content ?? "").startsWith("You maintain a running summary")

/** A long message: about 200 tokens, numbered so the summary can say what it covered. */
const longMessage = (i: number) => `Message ${i}: ${"the quick brown fox jumps over the lazy dog ".repeat(18)}`

const command = (h: Harness, line: string) =>
  h.use(
    Effect.flatMap(ChatCommands, (commands) =>
      commands.run(Option.getOrThrow(parseLine(line)), {
        conversation: { channel: "console", chatId: "long" },
        userId: "user-long",
        botName: "minibot"
      })).pipe(Effect.provide(ChatCommands.Default), Effect.map(Option.getOrThrow))
  )

/** The summaries live in the app's database: SQLite under data_dir, or Postgres. */
const backends: Record<string, Effect.Effect<HarnessOptions, unknown, Scope.Scope>> = {
  sqlite: Effect.succeed({}),
  postgres: Effect.map(freshDatabase, (db) => ({
    config: { storage: { backend: "postgres", postgres_url: db.url } },
    layer: (config: Parameters<typeof AppConfig.layer>[0]) =>
      Layers.runtimeWith(Llm.openaiWith({ retryBase: "10 millis", retryCap: "50 millis" })).pipe(
        Layer.provideMerge(Database.postgresAt(Redacted.make(db.url))),
        Layer.provideMerge(AppConfig.layer(config))
      )
  }))
}

describe.each(Object.keys(backends))("long conversations (%s)", (backend) => {
  it.scopedLive("requests stay under max_context_tokens and carry the summary; /status shows the fill; /reset forgets it", () =>
    Effect.gen(function*() {
      const options = yield* backends[backend]!
      const fake = yield* FakeLlm.make()
      let summaries = 0
      const summaryInput: Array<string> = []
      fake.script((request) => {
        if (isSummaryRequest(request)) {
          summaryInput.push(lastUserContent(request))
          return { content: `SUMMARY ${++summaries}: ${lastUserContent(request).length} chars` }
        }
        const question = lastUserContent(request)
        // One early turn uses a tool: its call and result must travel (or be summarised) together.
        const answered = request.messages.at(-1)?.role === "tool"
        return question === "what is 6*7?" && !answered
          ? { toolCalls: [{ name: "calculator", arguments: { expression: "6*7" } }] }
          : { content: `noted ${question.slice(0, 10)}` }
      })
      const h = yield* makeHarness(fake, { ...options, llm: { context: { max_context_tokens: budget } } })

      const questions = ["what is 6*7?", ...Array.from({ length: 9 }, (_, i) => longMessage(i + 1))]
      for (const [i, question] of questions.entries()) {
        yield* h.send("long", question)
        yield* h.waitForReplies(i + 1)
      }

      const answers = fake.completions().map((r) => r.body).filter((r) => !isSummaryRequest(r))
      expect(summaries).toBeGreaterThan(0)
      for (const request of answers) {
        expect(promptTokens(request)).toBeLessThanOrEqual(budget)
        // A tool result never without the call that asked for it.
        const calls = new Set(request.messages.flatMap((m) => (m.tool_calls ?? []).map((c) => c.id)))
        for (const m of request.messages.filter((m) => m.role === "tool")) expect(calls.has(m.tool_call_id!)).toBe(true)
      }
      const last = answers.at(-1)!
      // The newest summary, right after the system prompt.
      expect(last.messages[1]!.role).toBe("system")
      expect(String(last.messages[1]!.content)).toBe(
        `${summaryIntro}SUMMARY ${summaries}: ${summaryInput.at(-1)!.length} chars`
      )
      // Each summary folds the one before it in.
      expect(summaries).toBeGreaterThan(1)
      expect(summaryInput[1]).toMatch(/^Previous summary:\nSUMMARY 1: \d+ chars\n\nNew messages:\nUser: /)
      expect(lastUserContent(last)).toBe(longMessage(9))
      // Without the budget the ten long turns would not fit.
      expect(promptTokens(answers[0]!) + questions.reduce((n, q) => n + q.length, 0) / 4).toBeGreaterThan(budget)

      // The originals stay stored.
      const info = yield* h.use(Effect.flatMap(HistoryStore, (store) => store.info(conversationKey("console", "long"))))
      expect(info.turns).toBe(questions.length)

      expect(yield* command(h, "/status")).toMatch(
        new RegExp(`\\nContext: about \\d+ of ${budget} tokens \\(\\d+%\\), older messages summarised\\n`)
      )
      expect(yield* command(h, "/reset")).toMatch(/^Done: I forgot this conversation/)
      expect(yield* command(h, "/status")).toMatch(
        new RegExp(`\\nContext: about \\d+ of ${budget} tokens \\(\\d+%\\)\\n`)
      )

      yield* h.send("long", "fresh start")
      yield* h.waitForReplies(questions.length + 1)
      const after = fake.completions().at(-1)!.body
      expect(after.messages.map((m) => m.role)).toEqual(["system", "user"])
      expect(JSON.stringify(after.messages)).not.toContain("SUMMARY")
    }))
})
