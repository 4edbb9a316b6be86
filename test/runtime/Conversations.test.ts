import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ClusterStorage from "../../src/runtime/ClusterStorage.ts"
import * as Database from "../../src/storage/Database.ts"
import { FakeLlm } from "../support/FakeLlm.ts"
import { makeHarness, tempDir } from "../support/Harness.ts"
import { pollUntil } from "../support/Wait.ts"

describe("conversation turns", () => {
  it.scopedLive("handles messages of one conversation one at a time, in order", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make({ latencyMs: 30 })
      const h = yield* makeHarness(fake)
      for (let i = 1; i <= 6; i++) yield* h.send("ordered", `n${i}`)
      yield* h.waitForReplies(6)
      expect(h.repliesTo("ordered")).toEqual([1, 2, 3, 4, 5, 6].map((i) => `echo: n${i}`))
      // Never two requests of the conversation at once: each started after the previous answer.
      const reqs = fake.completions()
      for (let i = 1; i < reqs.length; i++) {
        expect(reqs[i]!.receivedAt).toBeGreaterThanOrEqual(reqs[i - 1]!.receivedAt + reqs[i - 1]!.handledMs! - 1)
      }
    }))

  it.scopedLive("runs 50 conversations in parallel", () =>
    Effect.gen(function*() {
      const latencyMs = 300
      const fake = yield* FakeLlm.make({ latencyMs })
      const h = yield* makeHarness(fake)
      yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => h.send(`chat-${i}`, `hello ${i}`), {
        concurrency: "unbounded"
      })
      yield* h.waitForReplies(50, 30_000)
      // In parallel, the model works on many chats at once: at the busiest moment, more than a
      // few requests were in flight together (in series there would never be two).
      const spans = fake.completions().map((r) => [r.receivedAt, r.receivedAt + r.handledMs!] as const)
      const inFlight = spans.map(([start]) => spans.filter(([s, e]) => s <= start && start < e).length)
      expect(Math.max(...inFlight)).toBeGreaterThanOrEqual(10)
      for (let i = 0; i < 50; i++) expect(h.repliesTo(`chat-${i}`)).toEqual([`echo: hello ${i}`])
    }))

  it.scopedLive("a message sent twice with the same id is answered once", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make({ latencyMs: 50 })
      const h = yield* makeHarness(fake)
      yield* h.send("dup", "only once", "update-1")
      yield* h.send("dup", "only once", "update-1")
      yield* h.waitForReplies(1)
      yield* h.send("dup", "only once", "update-1")
      yield* h.send("dup", "next", "update-2")
      yield* h.waitForReplies(2)
      expect(h.repliesTo("dup")).toEqual(["echo: only once", "echo: next"])
      expect(fake.completions()).toHaveLength(2)
    }))

  it.scopedLive("LLM 500s end in a short error message after the configured retries", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ status: 500, message: "boom" }))
      const h = yield* makeHarness(fake, { llm: { retry_attempts: 2 } })
      yield* h.send("c", "hello")
      yield* h.waitForReplies(1)
      expect(fake.completions()).toHaveLength(3)
      const [reply] = h.replies
      expect(reply!.kind).toBe("error")
      expect(reply!.text.length).toBeLessThan(200)
      expect(reply!.text).not.toMatch(/at .*\.ts|Error:|stack/i)
      // The daemon keeps going: the next message is answered normally.
      fake.script(() => ({ content: "back" }))
      yield* h.send("c", "again")
      yield* h.waitForReplies(2)
      expect(h.repliesTo("c")[1]).toBe("back")
    }))

  it.scopedLive("429s with retry-after are retried, then answered", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.enqueue({ status: 429, retryAfter: 0.05 }, { status: 429, retryAfter: 0.05 })
      const h = yield* makeHarness(fake, { llm: { retry_attempts: 3 } })
      yield* h.send("c", "hi")
      yield* h.waitForReplies(1)
      expect(h.repliesTo("c")).toEqual(["echo: hi"])
      expect(fake.completions()).toHaveLength(3)
    }))

  it.scopedLive("a hanging LLM times out, is retried, and the user gets an error", () =>
    Effect.gen(function*() {
      const fake = yield* FakeLlm.make()
      fake.script(() => ({ hang: true }))
      const h = yield* makeHarness(fake, { llm: { retry_attempts: 1, request_timeout_seconds: 0.3 } })
      yield* h.send("c", "hi")
      yield* h.waitForReplies(1)
      expect(fake.completions()).toHaveLength(2)
      // Each timed-out request was really cancelled: the fake saw its connection closed.
      yield* Effect.promise(() => fake.waitFor((f) => f.completions().every((r) => r.aborted), 2_000))
      expect(h.replies[0]!.kind).toBe("error")
      expect(h.replies[0]!.text).toMatch(/in time/i)
    }))

  it.live("history survives a restart of the runtime", () =>
    Effect.gen(function*() {
      const dataDir = tempDir()
      const fake = yield* FakeLlm.make()
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* makeHarness(fake, { dataDir })
        yield* h.send("r", "remember the number 42")
        yield* h.waitForReplies(1)
      }))
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* makeHarness(fake, { dataDir })
        yield* h.send("r", "what number?")
        yield* h.waitForReplies(1)
      }))
      const last = fake.completions().at(-1)!.body.messages.map((m) => m.content)
      expect(last).toContain("remember the number 42")
      expect(last).toContain("echo: remember the number 42")
    }).pipe(Effect.scoped))
})

describe("pruning", () => {
  it.scopedLive("processed mailbox rows and turn records past the retention are deleted at start", () =>
    Effect.gen(function*() {
      const dataDir = tempDir()
      const fake = yield* FakeLlm.make()
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* makeHarness(fake, { dataDir })
        yield* h.send("p", "keep me", "recent")
        yield* h.waitForReplies(1)
      }))
      // Age everything by four days, as if the daemon had been off since.
      const db = Database.sqliteAt(Database.databaseFile(dataDir))
      const count = (table: string, where = "") =>
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql.unsafe<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} ${where}`)
        ).pipe(
          Effect.map((rows) => Number(rows[0]!.n)),
          Effect.provide(db)
        )
      const fourDaysMs = 4 * 24 * 3600 * 1000
      yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE turns SET updated_at = updated_at - ${fourDaysMs}`)
        .pipe(Effect.zipRight(ClusterStorage.shiftIntoPast(fourDaysMs)), Effect.provide(db))
      expect(yield* count("cluster_messages")).toBeGreaterThan(0)
      expect(yield* count("turns")).toBe(1)

      // The pruner runs once at start: wait until the old turn record is gone, then look at the rest.
      yield* Effect.scoped(Effect.gen(function*() {
        yield* makeHarness(fake, { dataDir })
        yield* pollUntil(count("turns"), (n) => n === 0)
      }))
      expect(yield* count("cluster_messages", "WHERE processed = TRUE")).toBe(0)
      // History is not a mailbox: it stays.
      expect(yield* count("history")).toBe(2)
    }))
})
