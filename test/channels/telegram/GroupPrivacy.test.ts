/**
 * Two people, A (42) and B (43), in one group with the bot, and a model that tries to reach A's
 * private note from the group: nothing of it may reach the group's history or any turn there
 * (B's included), and a prompt A schedules in the group runs with the group's data only.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FakeChatRequest, FakeLlm, type FakeReply, lastUserContent } from "../../support/FakeLlm.ts"
import { makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { startDaemon, waitForText } from "./harness.ts"

const alice = 42
const bob = 43
const group = -1001
const secret = "PIN-4321"

/** A model that saves A's secret when asked, and otherwise reaches for it with every notes tool. */
const curious = (request: FakeChatRequest): FakeReply => {
  const last = request.messages.at(-1)
  // It repeats whatever the tools returned, as a careless model would.
  if (last?.role === "tool") {
    const results = request.messages.filter((m) => m.role === "tool").map((m) => String(m.content))
    return { content: `tools said: ${results.join(" | ")}` }
  }
  const text = lastUserContent(request)
  if (text.startsWith("remember")) {
    return { toolCalls: [{ name: "memory_save", arguments: { title: "PIN", data: secret } }] }
  }
  if (text.startsWith("remind")) {
    return { toolCalls: [{ name: "schedule_prompt", arguments: { prompt: "say my PIN", delay_seconds: 1 } }] }
  }
  return {
    toolCalls: [
      { name: "memory_get", arguments: { title: "PIN" } },
      { name: "memory_list", arguments: {} },
      { name: "memory_search", arguments: { query: "PIN" } }
    ]
  }
}

const groupTurns = (requests: ReadonlyArray<{ readonly body: FakeChatRequest }>) =>
  requests.filter((r) => r.body.messages.some((m) => m.role === "user" && String(m.content).includes("PIN")))

describe("Telegram groups: one person's notes stay private", () => {
  it.scopedLive(
    "A's private note is out of reach in the group, for A's turns, B's turns and A's scheduled prompt",
    () =>
      Effect.gen(function*() {
        const fake = yield* makeFakeTelegram()
        const llm = yield* FakeLlm.make()
        llm.script(curious)
        const h = yield* startDaemon(fake, llm, { telegram: { allowed_user_ids: [alice, bob] } })

        // In private, A saves a note and can read it back.
        fake.pushText({ chatId: alice, userId: alice, text: "remember my PIN" })
        yield* waitForText(fake, /^tools said: .*"ok":true/)
        fake.pushText({ chatId: alice, userId: alice, text: "what is my PIN?" })
        yield* waitForText(fake, new RegExp(`^tools said: .*${secret}`))

        // In the group, A asks, then B asks, then A schedules a prompt that reads notes when it fires.
        // Past a burst of three, a group gets one message every three seconds (Telegram's 20 per
        // minute, modelled by the fake and by the sender), so the later waits allow for that pacing.
        const before = llm.completions().length
        fake.pushText({ chatId: group, userId: alice, text: "@minibot_test_bot what is my PIN?" })
        yield* fake.waitForEffect((f) => f.sent.filter((m) => m.chat_id === group).length === 1)
        fake.pushText({ chatId: group, userId: bob, text: "@minibot_test_bot what is Alice's PIN?" })
        yield* fake.waitForEffect((f) => f.sent.filter((m) => m.chat_id === group).length === 2)
        fake.pushText({ chatId: group, userId: alice, text: "@minibot_test_bot remind me of my PIN" })
        yield* fake.waitForEffect((f) => f.sent.filter((m) => m.chat_id === group).length === 3)
        yield* fake.waitForEffect((f) => f.sent.filter((m) => m.chat_id === group).length === 4, 20_000)

        const inGroup = llm.completions().slice(before)
        expect(groupTurns(inGroup).length).toBeGreaterThanOrEqual(6)
        expect(inGroup.some((r) => lastUserContent(r.body).includes("Scheduled instruction"))).toBe(true)
        for (const request of inGroup) expect(JSON.stringify(request.body)).not.toContain(secret)
        const groupReplies = fake.sent.filter((m) => m.chat_id === group).map((m) => m.visibleText)
        expect(groupReplies.join("\n")).not.toContain(secret)
        const history = yield* h.sql<{ content: string | null }>`
        SELECT content FROM history WHERE conversation_key = ${`telegram:${group}`}`
        expect(history.length).toBeGreaterThan(0)
        expect(JSON.stringify(history)).not.toContain(secret)

        // The prompt A scheduled in the group is the group's: any member sees it with /tasks, A's private list does not.
        fake.pushText({ chatId: group, userId: bob, text: "/tasks" })
        yield* fake.waitForEffect((f) => f.sent.filter((m) => m.chat_id === group).length === 5, 20_000)
        expect(fake.sent.filter((m) => m.chat_id === group).at(-1)!.visibleText).toContain("say my PIN")
        fake.pushText({ chatId: alice, userId: alice, text: "/tasks" })
        yield* waitForText(fake, /^No tasks\./)

        // The note is still A's, in private.
        fake.pushText({ chatId: alice, userId: alice, text: "what is my PIN again?" })
        yield* fake.waitForEffect((f) => f.sent.filter((m) => m.chat_id === alice).length === 4)
        expect(fake.sent.filter((m) => m.chat_id === alice).at(-1)!.visibleText).toContain(secret)
      }),
    90_000
  )
})
