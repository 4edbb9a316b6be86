/**
 * Each person's time zone: set with `/timezone` or by the model (`set_timezone`), used by
 * `current_datetime` and by new reminders, kept per owner and across restarts.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { ChatCommands, parseLine } from "../../src/commands/ChatCommands.ts"
import { Scheduler } from "../../src/scheduler/Scheduler.ts"
import { callTool } from "../scheduler/helpers.ts"
import { FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeFakeTelegram } from "../support/FakeTelegram.ts"
import { type Harness, makeHarness, startDaemon, tempDir, waitForText } from "../support/Harness.ts"

/** The reply to a command line written in the console chat `chatId`. */
const command = (h: Harness, chatId: string, line: string) =>
  h.use(
    Effect.flatMap(ChatCommands, (commands) =>
      commands.run(Option.getOrThrow(parseLine(line)), {
        conversation: { channel: "console", chatId },
        userId: `user-${chatId}`,
        botName: "minibot"
      })).pipe(Effect.provide(ChatCommands.Default))
  ).pipe(Effect.map(Option.getOrThrow))

describe("time zones", () => {
  it.scopedLive("/timezone sets the person's zone, current_datetime answers in it, others keep the default", () =>
    Effect.gen(function*() {
      const h = yield* makeHarness(yield* FakeLlm.make())
      expect(yield* command(h, "alice", "/timezone")).toBe(
        "You have not set a time zone: I use UTC. Set yours with /timezone followed by an IANA name, " +
          "such as /timezone Europe/Madrid."
      )
      expect(yield* command(h, "alice", "/timezone Asia/Tokyo")).toBe("Done: your time zone is now Asia/Tokyo.")
      expect(yield* command(h, "alice", "/timezone")).toBe(
        "Your time zone is Asia/Tokyo. Times and reminders use it; /timezone Europe/Madrid changes it."
      )
      const now = yield* callTool(h, "alice", "current_datetime", {})
      expect(now.result).toMatchObject({ timezone: "Asia/Tokyo", utc_offset: "+09:00" })
      // The local time is the UTC instant moved by nine hours.
      expect(Date.parse(now.result.iso)).toBe(Date.parse(now.result.utc.replace(/\.\d+Z$/, "Z")))
      expect(now.result.iso).toMatch(/\+09:00$/)

      expect(yield* command(h, "alice", "/timezone Mars/Olympus")).toBe(
        "Unknown time zone \"Mars/Olympus\": use an IANA name such as \"Europe/Madrid\"."
      )
      expect(yield* command(h, "alice", "/timezone")).toContain("Asia/Tokyo")

      // Bob never set one: the configured default.
      expect((yield* callTool(h, "bob", "current_datetime", {})).result).toMatchObject({ timezone: "UTC" })
      expect(yield* command(h, "bob", "/timezone")).toContain("I use UTC")
    }))

  it.scopedLive("the model sets the zone with set_timezone; an unknown name is refused naming the argument", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue(
        { toolCalls: [{ name: "set_timezone", arguments: { timezone: "europe/madrid" } }] },
        { content: "Noted: Madrid time." }
      )
      const h = yield* makeHarness(fake)
      yield* h.send("carol", "I live in Madrid")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("carol")).toEqual(["Noted: Madrid time."])
      const toolResult = fake.completions()[1]!.body.messages.at(-1)!
      expect(toolResult.role).toBe("tool")
      expect(JSON.parse(String(toolResult.content))).toMatchObject({ ok: true, result: { timezone: "Europe/Madrid" } })
      expect(yield* command(h, "carol", "/timezone")).toContain("Your time zone is Europe/Madrid.")

      const refused = yield* callTool(h, "carol", "set_timezone", { timezone: "Mars/Olympus" })
      expect(refused).toMatchObject({ ok: false, field: "timezone" })
      expect(refused.error).toContain("\"Mars/Olympus\"")
      expect(yield* command(h, "carol", "/timezone")).toContain("Europe/Madrid")
    }))

  it.scoped("a reminder at a local time fires at that time in the person's zone", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-11-24T10:00:00Z"))
      const fake = yield* FakeLlm.make()
      fake.script((request) => ({ content: `reply to: ${lastUserContent(request)}` }))
      const h = yield* makeHarness(fake, { config: { scheduler: { poll_interval_ms: 60_000 } } })
      yield* command(h, "dave", "/timezone Asia/Tokyo")
      // 19:01:30 in Tokyo is 10:01:30 UTC.
      const scheduled = yield* callTool(h, "dave", "schedule_prompt", {
        prompt: "Remind the user to call home",
        run_at: "2026-11-24T19:01:30"
      })
      expect(scheduled).toMatchObject({ ok: true, result: { timezone: "Asia/Tokyo" } })
      // A plain message in another chat a millisecond earlier: once it is sent, the runtime has
      // processed simulated time up to then.
      yield* h.use(Effect.flatMap(Scheduler, (scheduler) =>
        scheduler.schedule(
          { ownerId: "marker", conversation: { channel: "console", chatId: "marker" }, userId: null },
          { strategy: "message", payload: "one millisecond before", runAt: "2026-11-24T10:01:29.999Z" }
        )))
      yield* TestClock.adjust("89999 millis")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("marker")).toEqual(["one millisecond before"])
      expect(fake.completions()).toHaveLength(0)
      yield* TestClock.adjust("1 millis")
      yield* h.waitForReplies(2)
      expect(h.repliesTo("dave")).toHaveLength(1)
      expect(lastUserContent(fake.completions()[0]!.body)).toMatch(
        /^Scheduled instruction \(job \w+, due 2026-11-24T19:01:30\.000\+09:00\): Remind the user to call home\n/
      )
    }), 20_000)

  it.scopedLive("the zone survives a restart", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      const dataDir = tempDir()
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* makeHarness(fake, { dataDir })
        yield* command(h, "erin", "/timezone America/New_York")
      }))
      const h = yield* makeHarness(fake, { dataDir })
      expect(yield* command(h, "erin", "/timezone")).toContain("Your time zone is America/New_York.")
    }))

  it.scopedLive("on Telegram: /timezone is in the command menu, and a group's zone is the group's", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      const [alice, bob, group] = [42, 43, -1001]
      yield* startDaemon(fake, llm, { telegram: { allowed_user_ids: [alice, bob] } })
      fake.pushText({ chatId: alice, userId: alice, text: "/timezone Asia/Tokyo" })
      yield* waitForText(fake, "Done: your time zone is now Asia/Tokyo.")
      expect(fake.commands.get("default")?.map((c) => c.command)).toContain("timezone")

      fake.pushText({ chatId: group, userId: bob, text: "/timezone" })
      yield* waitForText(fake, /^You have not set a time zone: I use UTC\./)
      fake.pushText({ chatId: group, userId: bob, text: "/timezone Europe/Madrid" })
      yield* waitForText(fake, "Done: your time zone is now Europe/Madrid.")
      fake.pushText({ chatId: alice, userId: alice, text: "/timezone" })
      yield* waitForText(fake, /^Your time zone is Asia\/Tokyo\./)
      // Commands never reach the model.
      expect(llm.completions()).toHaveLength(0)
    }))
})
