import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Scheduler } from "../../src/scheduler/Scheduler.ts"
import { FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeHarness } from "../support/Harness.ts"

// The mailbox is read every 60 s only: a reminder that fires on time was woken at its due time.
const schedulerConfig = { scheduler: { min_interval_seconds: 1, retry_backoff_ms: 50, poll_interval_ms: 60_000 } }

describe("scheduler", () => {
  it.scopedLive("a prompt scheduled through the tool fires once, at its time, in its conversation", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script((request) => {
        const last = lastUserContent(request)
        if (last.startsWith("Scheduled instruction")) return { content: "Time to stretch!" }
        if (last === "anything else?") return { content: "No." }
        if (request.messages.at(-1)?.role === "tool") return { content: "Done, I will remind you." }
        return {
          toolCalls: [{
            name: "schedule_prompt",
            arguments: { prompt: "Remind the user to stretch", delay_seconds: 1 }
          }]
        }
      })
      const h = yield* makeHarness(fake, { config: schedulerConfig })
      const sentAt = Date.now()
      yield* h.send("alice", "remind me to stretch in a second")
      yield* h.waitForReplies(2, 5000)
      expect(h.repliesTo("alice")).toEqual(["Done, I will remind you.", "Time to stretch!"])
      const instruction = fake.completions().map((r) => lastUserContent(r.body)).find((t) => t.startsWith("Scheduled"))!
      expect(instruction).toMatch(
        /^Scheduled instruction \(job j\w+, due .+\): Remind the user to stretch\nDo it now; do not schedule it again\.$/
      )
      const firedAt = fake.completions().find((r) => lastUserContent(r.body).startsWith("Scheduled"))!.receivedAt
      expect(firedAt - sentAt).toBeGreaterThanOrEqual(1000)
      const [job] = (yield* h.use(Effect.flatMap(Scheduler, (s) =>
        s.list("console:user-alice", { activeOnly: false, limit: 10, offset: 0 })))).jobs
      expect(job).toMatchObject({ status: "completed", runs: 1 })
      // Not early; and woken at the due time, not at the next mailbox poll (60 s away).
      expect(firedAt).toBeGreaterThanOrEqual(job!.runAt)
      // Fired once: a later message of the chat is answered next, with nothing in between.
      yield* h.send("alice", "anything else?")
      yield* h.waitForReplies(3)
      expect(h.repliesTo("alice")).toEqual(["Done, I will remind you.", "Time to stretch!", "No."])
    }))
})
