/**
 * The operator's endpoints beyond conversations and schedules, against the real server on
 * loopback: resending a reply that never reached the chat, tasks, notes and pairing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Scheduler } from "../../src/scheduler/Scheduler.ts"
import { NotesStore } from "../../src/tools/notes/NotesStore.ts"
import { waitForText } from "../channels/telegram/harness.ts"
import { call, chat, eventually, started, token } from "./ApiKit.ts"

describe("HTTP API: operations", () => {
  it.scopedLive("a reply that never reached the chat is resent once; resending a delivered one is refused", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started()
      fake.failNext("sendMessage", { status: 403 })
      yield* call(port, "POST", `/api/conversations/${chat}/messages`, { token, body: { text: "are you there?" } })
      const failed = yield* eventually(
        call(port, "GET", `/api/deliveries?conversation=${chat}&status=undeliverable`, { token }),
        (reply) => reply.body.items.length === 1
      )
      const delivery = failed.body.items[0]
      expect(delivery).toMatchObject({ reply: "echo: are you there?", error: expect.stringContaining("403") })
      expect(fake.sent).toHaveLength(0)

      const resent = yield* call(port, "POST", `/api/deliveries/${delivery.id}/resend`, { token })
      expect(resent.status).toBe(200)
      expect(resent.body).toMatchObject({ chunks: 1, delivery: { id: delivery.id, status: "delivered" } })
      yield* waitForText(fake, "echo: are you there?")

      const again = yield* call(port, "POST", `/api/deliveries/${delivery.id}/resend`, { token })
      expect(again.status).toBe(409)
      expect(again.body).toMatchObject({ _tag: "Conflict", message: "the reply already reached the chat" })
      expect(fake.sent).toHaveLength(1)
      expect((yield* call(port, "POST", "/api/deliveries/bm9uZQ/resend", { token })).status).toBe(404)
    }))

  it.scopedLive("tasks are listed with filters, shown with their runs, retried when failed and cancelled", () =>
    Effect.gen(function*() {
      const { fake, h, port } = yield* started()
      const job = yield* h.use(Effect.flatMap(Scheduler, (scheduler) =>
        scheduler.schedule(
          { ownerId: "telegram:42", conversation: { channel: "telegram", chatId: "42" }, userId: "42" },
          { strategy: "message", payload: "time to stand up", delaySeconds: 3600 }
        )))
      const queued = yield* call(port, "GET", "/api/tasks?status=queued&kind=message&owner=telegram:42", { token })
      expect(queued.body.items).toEqual([expect.objectContaining({ id: job.id, taskStatus: "queued" })])
      const none = yield* call(port, "GET", "/api/tasks?kind=web_fetch", { token })
      expect(none.body.items).toEqual([])
      const badStatus = yield* call(port, "GET", "/api/tasks?status=sleeping", { token })
      expect(badStatus.status).toBe(400)
      expect(JSON.stringify(badStatus.body)).toContain("status")

      const refused = yield* call(port, "POST", `/api/tasks/${job.id}/retry`, { token })
      expect(refused.status).toBe(409)
      expect(refused.body.message).toContain("only a failed job")

      yield* h.sql`UPDATE scheduled_jobs SET status = 'failed', next_run_at = NULL WHERE id = ${job.id}`
      const retried = yield* call(port, "POST", `/api/tasks/${job.id}/retry`, { token })
      expect(retried.status).toBe(202)
      expect(retried.body).toMatchObject({ id: job.id, taskStatus: "queued" })
      yield* waitForText(fake, "time to stand up")
      const detail = yield* eventually(
        call(port, "GET", `/api/tasks/${job.id}`, { token }),
        (reply) => reply.body.task.taskStatus === "completed"
      )
      expect(detail.body.runs).toEqual([expect.objectContaining({ outcome: "completed", attempts: 1 })])

      const cancelledTwice = yield* call(port, "POST", `/api/tasks/${job.id}/cancel`, { token })
      expect(cancelledTwice.status).toBe(409)
      const other = yield* h.use(Effect.flatMap(Scheduler, (scheduler) =>
        scheduler.schedule(
          { ownerId: "telegram:42", conversation: { channel: "telegram", chatId: "42" }, userId: "42" },
          { strategy: "message", payload: "later", delaySeconds: 3600 }
        )))
      const cancelled = yield* call(port, "POST", `/api/tasks/${other.id}/cancel`, { token })
      expect(cancelled.body).toMatchObject({ id: other.id, taskStatus: "cancelled" })
      expect((yield* call(port, "GET", "/api/tasks/nope", { token })).status).toBe(404)
    }))

  it.scopedLive("notes are listed and searched per owner, never across owners, and deleted", () =>
    Effect.gen(function*() {
      const { h, port } = yield* started()
      yield* h.use(
        Effect.flatMap(NotesStore, (notes) =>
          Effect.all([
            notes.save("telegram:42", { title: "Groceries", data: "milk, eggs, bread" }),
            notes.save("telegram:42", { title: "Books", data: "Dune, Emma" }),
            notes.save("telegram:7", { title: "Secret", data: "not for 42" })
          ])).pipe(Effect.provide(NotesStore.Default))
      )
      const list = yield* call(port, "GET", "/api/notes?owner=telegram:42", { token })
      expect(list.body.items.map((n: any) => n.title)).toEqual(["Books", "Groceries"])
      const search = yield* call(port, "GET", "/api/notes?owner=telegram:42&q=eggs", { token })
      expect(search.body.items).toEqual([expect.objectContaining({ title: "Groceries", snippet: expect.any(String) })])
      const elsewhere = yield* call(port, "GET", "/api/notes?owner=telegram:42&q=secret", { token })
      expect(elsewhere.body.items).toEqual([])
      const noOwner = yield* call(port, "GET", "/api/notes", { token })
      expect(noOwner.status).toBe(400)
      expect(JSON.stringify(noOwner.body)).toContain("owner")

      const deleted = yield* call(port, "DELETE", "/api/notes/groceries?owner=telegram:42", { token })
      expect(deleted.body).toEqual({ deleted: true })
      expect((yield* call(port, "DELETE", "/api/notes/Secret?owner=telegram:42", { token })).status).toBe(404)
      const after = yield* call(port, "GET", "/api/notes?owner=telegram:42", { token })
      expect(after.body.items.map((n: any) => n.title)).toEqual(["Books"])
    }))

  it.scopedLive("pairing: a stranger's code is pending, approved over the API, then revoked", () =>
    Effect.gen(function*() {
      const { fake, port } = yield* started({ telegram: { dm_policy: "pairing", allowed_user_ids: [] } })
      fake.pushText({ chatId: 77, userId: 77, text: "hello?", username: "newcomer" })
      yield* waitForText(fake, /pairing approve/)
      const listed = yield* call(port, "GET", "/api/pairing", { token })
      expect(listed.body.pending).toEqual([expect.objectContaining({ userId: 77, userName: "newcomer" })])
      const code: string = listed.body.pending[0].code

      const unknown = yield* call(port, "POST", "/api/pairing/approve", { token, body: { code: "NOPE2345" } })
      expect(unknown.status).toBe(404)
      const noCode = yield* call(port, "POST", "/api/pairing/approve", { token, body: {} })
      expect(noCode.status).toBe(400)
      expect(JSON.stringify(noCode.body)).toContain("code")

      const approved = yield* call(port, "POST", "/api/pairing/approve", { token, body: { code } })
      expect(approved.body).toMatchObject({ userId: 77, userName: "newcomer" })
      fake.pushText({ chatId: 77, userId: 77, text: "now?" })
      yield* waitForText(fake, "echo: now?")

      const revoked = yield* call(port, "POST", "/api/pairing/revoke", { token, body: { user_id: 77 } })
      expect(revoked.body).toEqual({ userId: 77, cancelledJobs: 0 })
      expect((yield* call(port, "GET", "/api/pairing", { token })).body).toEqual({ pending: [], paired: [] })
      expect((yield* call(port, "POST", "/api/pairing/revoke", { token, body: { user_id: 77 } })).status).toBe(404)
    }))
})
