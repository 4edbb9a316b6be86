/**
 * Revoking a person stops what they created: a user removed from `allowed_user_ids` has their
 * recurring prompt cancelled at the next start, while an allowed user's keeps firing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FakeChatRequest, FakeLlm, type FakeReply, lastUserContent } from "../../support/FakeLlm.ts"
import { type FakeTelegramServer, makeFakeTelegram } from "../../support/FakeTelegram.ts"
import { tempDir } from "../../support/Harness.ts"
import { withDaemon } from "./harness.ts"

const kept = 42
const revoked = 43

/** Schedules a prompt every second when asked; a due prompt answers "tick". */
const scheduling = (request: FakeChatRequest): FakeReply => {
  if (request.messages.at(-1)?.role === "tool") return { content: "scheduled" }
  const text = lastUserContent(request)
  if (text.startsWith("Scheduled instruction")) return { content: "tick" }
  return { toolCalls: [{ name: "schedule_prompt", arguments: { prompt: "say tick", interval_seconds: 1 } }] }
}

const ticks = (fake: FakeTelegramServer, chatId: number) =>
  fake.sent.filter((m) => m.chat_id === chatId && m.visibleText === "tick").length

describe("Telegram: revoking a person", () => {
  it.scopedLive("a user removed from allowed_user_ids: their recurring prompt is cancelled at start, and logged", () =>
    Effect.gen(function*() {
      const fake = yield* makeFakeTelegram()
      const llm = yield* FakeLlm.make()
      llm.script(scheduling)
      const dataDir = tempDir("minibot-revoke-")
      const options = (allowed: ReadonlyArray<number>) => ({
        dataDir,
        telegram: { allowed_user_ids: allowed },
        config: { scheduler: { min_interval_seconds: 1 } }
      })

      yield* withDaemon(fake, llm, options([kept, revoked]), () =>
        Effect.gen(function*() {
          fake.pushText({ chatId: kept, userId: kept, text: "tick every second" })
          fake.pushText({ chatId: revoked, userId: revoked, text: "tick every second" })
          yield* fake.waitForEffect((f) => ticks(f, kept) >= 1 && ticks(f, revoked) >= 1, 10_000)
        }))
      const before = { kept: ticks(fake, kept), revoked: ticks(fake, revoked) }

      const logs = yield* withDaemon(fake, llm, options([kept]), (h) =>
        Effect.gen(function*() {
          // The allowed user's prompt fires twice more: the revoked one's had every chance to fire too.
          yield* fake.waitForEffect((f) => ticks(f, kept) >= before.kept + 2, 10_000)
          const rows = yield* h.sql<{ user_id: string; status: string }>`
            SELECT user_id, status FROM scheduled_jobs ORDER BY user_id`
          expect(rows).toEqual([{ user_id: String(kept), status: "pending" }, {
            user_id: String(revoked),
            status: "cancelled"
          }])
          return h.logs
        }))
      expect(ticks(fake, revoked)).toBe(before.revoked)
      expect(logs.some((l) =>
        l.includes("job cancelled: the person who created it no longer has access") &&
        l.includes(`user_id=${revoked}`)
      )).toBe(true)
    }))
})
