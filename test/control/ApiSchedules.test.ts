/**
 * `/api/schedules` against the real server on loopback: creating a schedule in a chat, changing
 * it, running it now (the reply reaches the fake Telegram chat and its run history says so),
 * pausing and resuming it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { waitForText } from "../channels/telegram/harness.ts"
import { call, chat, eventually, started, token } from "./ApiKit.ts"

describe("HTTP API: schedules", () => {
  it.scopedLive("a schedule is created in a chat and changed; bad requests name their field", () =>
    Effect.gen(function*() {
      const { port } = yield* started()
      const post = (body: unknown) => call(port, "POST", "/api/schedules", { token, body })

      const created = yield* post({ conversation_id: chat, prompt: "say hello", delay_seconds: 3600 })
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({
        ownerId: "telegram:42",
        conversation: { channel: "telegram", chatId: "42" },
        strategy: "llm_prompt",
        payload: "say hello",
        status: "pending"
      })
      const id: string = created.body.id

      const badChat = yield* post({ conversation_id: "nowhere", prompt: "x", delay_seconds: 60 })
      expect(badChat.status).toBe(400)
      expect(badChat.body).toMatchObject({ field: "conversation_id" })
      const badCron = yield* post({ conversation_id: chat, prompt: "x", cron: "every day" })
      expect(badCron.status).toBe(400)
      expect(badCron.body).toMatchObject({ field: "cron" })
      const noPrompt = yield* post({ conversation_id: chat, delay_seconds: 60 })
      expect(noPrompt.status).toBe(400)
      expect(JSON.stringify(noPrompt.body)).toContain("prompt")

      const renamed = yield* call(port, "PATCH", `/api/schedules/${id}`, { token, body: { prompt: "say goodbye" } })
      expect(renamed.status).toBe(200)
      expect(renamed.body).toMatchObject({ id, payload: "say goodbye", nextRunAt: created.body.nextRunAt })
      const rescheduled = yield* call(port, "PATCH", `/api/schedules/${id}`, {
        token,
        body: { interval_seconds: 7200 }
      })
      expect(rescheduled.body).toMatchObject({
        recurrence: { kind: "interval", seconds: 7200 },
        payload: "say goodbye"
      })
      const past = yield* call(port, "PATCH", `/api/schedules/${id}`, {
        token,
        body: { run_at: "2020-01-01T00:00:00Z" }
      })
      expect(past.status).toBe(400)
      expect(past.body).toMatchObject({ field: "run_at" })
      expect((yield* call(port, "PATCH", "/api/schedules/nope", { token, body: { prompt: "x" } })).status).toBe(404)

      yield* call(port, "DELETE", `/api/schedules/${id}`, { token })
      const refused = yield* call(port, "PATCH", `/api/schedules/${id}`, { token, body: { prompt: "again" } })
      expect(refused.status).toBe(409)
      expect(refused.body.message).toContain("cancelled")
    }))

  it.scopedLive("run now answers in the chat once, keeps the schedule, and shows in the run history", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      const created = yield* call(port, "POST", "/api/schedules", {
        token,
        body: { conversation_id: chat, prompt: "water the plants", interval_seconds: 3600 }
      })
      const id: string = created.body.id
      const run = yield* call(port, "POST", `/api/schedules/${id}/run`, { token })
      expect(run.status).toBe(202)
      yield* waitForText(fake, /water the plants/)
      const runs = yield* eventually(
        call(port, "GET", `/api/schedules/${id}/runs`, { token }),
        (reply) => reply.body.items[0]?.deliveredMessageIds.length === 1
      )
      expect(runs.body.items).toEqual([
        expect.objectContaining({
          dueAt: run.body.dueAt,
          outcome: "completed",
          missed: false,
          attempts: 1,
          deliveredMessageIds: [`job:${id}:${run.body.dueAt}`]
        })
      ])
      const job = yield* call(port, "GET", `/api/schedules/${id}`, { token })
      expect(job.body).toMatchObject({ status: "pending", nextRunAt: created.body.nextRunAt, runs: 1 })
      expect(fake.sent.filter((m) => /water the plants/.test(m.visibleText))).toHaveLength(1)
      expect((yield* call(port, "POST", "/api/schedules/nope/run", { token })).status).toBe(404)
    }))

  it.scopedLive("pause and resume: refused twice with a reason, resumed from now", () =>
    Effect.gen(function*() {
      const { port } = yield* started()
      const created = yield* call(port, "POST", "/api/schedules", {
        token,
        body: { conversation_id: chat, prompt: "stretch", interval_seconds: 3600 }
      })
      const id: string = created.body.id
      const paused = yield* call(port, "POST", `/api/schedules/${id}/pause`, { token })
      expect(paused.body).toMatchObject({ status: "paused", nextRunAt: null })
      const again = yield* call(port, "POST", `/api/schedules/${id}/pause`, { token })
      expect(again.status).toBe(409)
      expect(again.body).toMatchObject({ _tag: "Conflict", message: expect.stringContaining("paused") })
      const listed = yield* call(port, "GET", "/api/schedules?status=paused", { token })
      expect(listed.body.items.map((j: any) => j.id)).toEqual([id])
      const before = Date.now()
      const resumed = yield* call(port, "POST", `/api/schedules/${id}/resume`, { token })
      expect(resumed.body.status).toBe("pending")
      expect(resumed.body.nextRunAt).toBeGreaterThan(before)
      expect((yield* call(port, "POST", `/api/schedules/${id}/resume`, { token })).status).toBe(409)
    }))
})
