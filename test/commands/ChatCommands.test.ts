import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { ChatCommand, ChatCommands, commandOf, parseCommand, parseLine } from "../../src/commands/ChatCommands.ts"
import { callTool } from "../scheduler/helpers.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { type Harness, makeHarness } from "../support/Harness.ts"

/** Runs a command in the console conversation `chatId`, as the harness's user of that chat. */
const run = (h: Harness, chatId: string, command: ChatCommand, extra: { groupMention?: string } = {}) =>
  h.use(
    Effect.flatMap(ChatCommands, (commands) =>
      commands.run(command, {
        conversation: { channel: "console", chatId },
        userId: `user-${chatId}`,
        botName: "minibot",
        ...extra
      })).pipe(Effect.provide(ChatCommands.Default))
  )

const text = (h: Harness, chatId: string, line: string) =>
  run(h, chatId, Option.getOrThrow(parseLine(line))).pipe(Effect.map(Option.getOrThrow))

describe("chat commands", () => {
  it("a line is parsed into a command, with the bot's name checked where it is given", () => {
    expect(parseLine("/help")).toEqual(Option.some(ChatCommand.Help()))
    expect(parseLine("/STATUS")).toEqual(Option.some(ChatCommand.Status()))
    expect(parseLine("/tasks  cancel abc ")).toEqual(Option.some(ChatCommand.Tasks({ args: "cancel abc" })))
    expect(parseLine("/frobnicate")).toEqual(Option.none())
    expect(parseLine("what is /help?")).toEqual(Option.none())
    expect(parseLine("/helpme")).toEqual(Option.none())
    expect(parseCommand("/stop@Minibot_Bot", "minibot_bot")).toEqual({ name: "stop", args: "", target: "us" })
    expect(parseCommand("/stop@other_bot now", "minibot_bot")).toEqual({ name: "stop", args: "now", target: "other" })
    expect(commandOf(parseCommand("/reset", "minibot_bot")!)).toEqual(Option.some(ChatCommand.Reset()))
  })

  it.scopedLive("/help, /start, /status and /reset answer from the runtime, without the model", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake)
      expect(yield* text(h, "c", "/help")).toMatch(/^Write me anything and I answer\.\n\n\/reset: forget/)
      expect(yield* run(h, "c", ChatCommand.Help(), { groupMention: "minibot_bot" })).toEqual(
        Option.some(expect.stringContaining("In this group, mention me (@minibot_bot)"))
      )
      expect(yield* text(h, "c", "/start")).toMatch(/^Hi! I'm minibot, a personal assistant\.\nWrite me anything/)

      yield* h.send("c", "hello")
      yield* h.waitForReplies(1)
      expect(yield* text(h, "c", "/status")).toMatch(
        /^Model: fake-model\nHistory: 2 messages \(1 exchange\)\nContext: about \d+ tokens \(no limit set\)\nQueue: 0 messages waiting in this chat\nUptime: \d+s$/
      )
      expect(yield* text(h, "c", "/reset")).toBe("Done: I forgot this conversation (2 messages).")
      expect(yield* text(h, "c", "/reset")).toBe("There was nothing to forget.")
      expect(yield* text(h, "c", "/status")).toContain("History: 0 messages (0 exchanges)")
      // Only the one message went to the model.
      expect(fake.completions()).toHaveLength(1)
    }))

  it.scopedLive("/stop interrupts the running turn, which answers \"Stopped.\"; with none running it says so", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ delayMs: 20_000 })
      const h = yield* makeHarness(fake)
      expect(yield* text(h, "s", "/stop")).toBe("Nothing to stop: no answer is being prepared.")
      yield* h.send("s", "think very hard")
      yield* Effect.promise(() => fake.waitFor((f) => f.completions().length === 1, 5_000))
      expect(yield* run(h, "s", ChatCommand.Stop())).toEqual(Option.none())
      yield* h.waitForReplies(1, 2_000)
      expect(h.repliesTo("s")).toEqual(["Stopped."])
    }))

  it.scopedLive("/tasks lists the owner's tasks, /tasks cancel ID cancels one, /tasks show ID shows its runs", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake)
      const a = yield* callTool(h, "u", "task_create", {
        kind: "llm_prompt",
        prompt: "weekly review",
        cron: "0 9 * * 1"
      })
      const b = yield* callTool(h, "u", "schedule_prompt", { prompt: "call mum", delay_seconds: 3600 })
      const listing = yield* text(h, "u", "/tasks")
      expect(listing).toContain("Active tasks (2):")
      expect(listing).toContain(`${a.result.id} [queued] weekly review`)
      expect(listing).toContain(`cron "0 9 * * 1"`)
      expect(listing).toContain(`${b.result.id} [queued] call mum`)

      // Another person's task is not found for them.
      expect(yield* text(h, "other", `/tasks cancel ${b.result.id}`)).toBe(
        `No task ${b.result.id}. /tasks lists yours.`
      )
      expect(yield* text(h, "u", `/tasks cancel ${b.result.id}`)).toBe(`Cancelled ${b.result.id}.`)
      expect(yield* text(h, "u", `/tasks cancel ${b.result.id}`)).toMatch(/^Cannot cancel .*already cancelled\.$/)
      const after = yield* text(h, "u", "/tasks")
      expect(after).toContain("Active tasks (1):")
      expect(after).toContain(`Recently finished:\n${b.result.id} [cancelled] call mum`)
      expect(yield* text(h, "u", `/tasks show ${a.result.id}`)).toContain("No runs yet.")
      expect(yield* text(h, "u", "/tasks frobnicate")).toBe("Usage: /tasks, /tasks cancel ID, /tasks show ID")
      expect(yield* text(h, "u", "/tasks show a b")).toBe("Usage: /tasks, /tasks show ID, /tasks cancel ID")
      expect(yield* text(h, "nobody", "/tasks")).toMatch(/^No tasks/)
    }))
})
