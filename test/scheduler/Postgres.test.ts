import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Layers from "../../src/app/Layers.ts"
import { AppConfig } from "../../src/config/Config.ts"
import { Llm } from "../../src/llm/Llm.ts"
import * as Database from "../../src/storage/Database.ts"
import { spawnMinibot, writeConfig } from "../support/Daemon.ts"
import { FakeLlm, type FakeLlmServer, lastUserContent } from "../support/FakeLlm.ts"
import { type Harness, makeHarness, tempDir } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"
import { callTool, eventually, pollUntil } from "./helpers.ts"

const onPostgres = (url: string) => (config: Parameters<typeof AppConfig.layer>[0]) =>
  Layers.runtimeWith(Llm.openaiWith({ retryBase: "10 millis", retryCap: "50 millis" })).pipe(
    Layer.provideMerge(Database.postgresAt(Redacted.make(url))),
    Layer.provideMerge(AppConfig.layer(config))
  )

describe("on Postgres", () => {
  it.scopedLive("the whole runtime migrates and runs: turns with history, notes, a scheduled prompt", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const fake = yield* FakeLlm.make()
      const h = yield* makeHarness(fake, {
        config: { storage: { backend: "postgres", postgres_url: db.url }, scheduler: { min_interval_seconds: 1 } },
        layer: onPostgres(db.url)
      })
      yield* h.send("pg", "first")
      yield* h.waitForReplies(1)
      yield* h.send("pg", "second")
      yield* h.waitForReplies(2)
      expect(fake.completions().at(-1)!.body.messages.map((m) => m.content).slice(1)).toEqual([
        "first",
        "echo: first",
        "second"
      ])

      expect((yield* callTool(h, "pg", "memory_save", { title: "Shopping", data: "tomatoes and basil" })).ok).toBe(true)
      expect(yield* callTool(h, "pg", "memory_search", { query: "BASIL" })).toMatchObject({
        ok: true,
        result: { results: [expect.objectContaining({ title: "Shopping" })] }
      })
      const job = yield* callTool(h, "pg", "schedule_prompt", { prompt: "ping", delay_seconds: 0.5 })
      expect(job.ok).toBe(true)
      yield* h.waitForReplies(3)
      expect(h.replies[2]!.text).toMatch(/^echo: Scheduled instruction .*: ping/)
      const listed = yield* pollUntil(
        callTool(h, "pg", "list_scheduled_prompts", { active_only: false }),
        (r) => r.result.jobs[0].status === "completed"
      )
      expect(listed.result.jobs[0]).toMatchObject({
        status: "completed",
        runs: 1
      })
    }))
})

/** `minibot run` on the database, as a second runner; stopped with the scope. */
const runnerProcess = (llmUrl: string, dbUrl: string) => {
  const dir = tempDir()
  return Effect.acquireRelease(
    Effect.sync(() =>
      spawnMinibot([
        "run",
        "--config",
        writeConfig(
          dir,
          `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${llmUrl}"
model = "fake-model"
[channels.console]
enabled = true
[storage]
backend = "postgres"
postgres_url = "${dbUrl}"
`
        )
      ], { cwd: dir })
    ),
    (p) =>
      Effect.promise(async () => {
        if (p.child.exitCode === null) p.child.kill("SIGTERM")
        await p.exited
      })
  ).pipe(Effect.tap((p) => Effect.promise(() => p.waitForStderr(/minibot started/))))
}

/** Jobs due around `start`, 25 ms apart; never in the past, however long scheduling them takes. */
const scheduleMany = (h: Harness, jobs: number, start: number) =>
  Effect.forEach(
    Array.from({ length: jobs }, (_, i) => i),
    (i) =>
      callTool(h, `chat-${i}`, "schedule_prompt", {
        prompt: `job-${i}`,
        delay_seconds: Math.max(start + i * 25 - Date.now(), 500) / 1000
      }).pipe(
        Effect.tap((created) => expect(created.ok).toBe(true))
      ),
    { discard: true }
  )

const firedPrompts = (fake: FakeLlmServer) =>
  fake.completions()
    .map((r) => lastUserContent(r.body))
    .filter((t) => t.startsWith("Scheduled instruction"))
    .map((t) => /: (job-\d+)\n/.exec(t)![1]!)

describe("two runners on one Postgres", () => {
  it.scopedLive("split the conversations and fire each job exactly once", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const fake = yield* FakeLlm.make()
      const other = yield* runnerProcess(fake.url, db.url)
      const h = yield* makeHarness(fake, {
        config: { storage: { backend: "postgres", postgres_url: db.url } },
        layer: onPostgres(db.url)
      })

      const jobs = 40
      yield* scheduleMany(h, jobs, Date.now() + 3000)
      const answered = () => ({
        here: h.replies.filter((r) => r.text.startsWith("echo: Scheduled")).length,
        there: (other.stdout.match(/^echo: Scheduled/gm) ?? []).length
      })
      yield* eventually(() => answered().here + answered().there >= jobs, "every answer", 15_000)
      expect(firedPrompts(fake).sort()).toEqual(Array.from({ length: jobs }, (_, i) => `job-${i}`).sort())
      // Every answer delivered once, by whichever runner owns the conversation; both had some.
      const { here, there } = answered()
      expect(here + there).toBe(jobs)
      expect(here).toBeGreaterThan(0)
      expect(there).toBeGreaterThan(0)
    }), 40_000)

  it.scopedLive(
    "when one runner is killed, the other takes its conversations over and fires their jobs once",
    () =>
      Effect.gen(function*() {
        const db = yield* freshDatabase
        const fake = yield* FakeLlm.make()
        const other = yield* runnerProcess(fake.url, db.url)
        const h = yield* makeHarness(fake, {
          config: { storage: { backend: "postgres", postgres_url: db.url } },
          layer: onPostgres(db.url)
        })
        const jobs = 20
        yield* scheduleMany(h, jobs, Date.now() + 2000)
        other.child.kill("SIGKILL")
        yield* Effect.promise(() => other.exited)
        // The dead runner's shard locks expire after 10 s; then this runner fires the rest, late.
        const delivered = () =>
          [
            ...h.replies.map((r) => r.text),
            ...other.stdout.split("\n")
          ].filter((t) => t.startsWith("echo: Scheduled")).map((t) => /: (job-\d+)$/m.exec(t)![1]!)
        yield* eventually(() => new Set(delivered()).size >= jobs, "every answer", 25_000)
        // Each job answered once, by the runner that owned its conversation at the time (a turn cut
        // by the kill may ask the LLM again, but its answer is delivered once).
        expect(new Set(firedPrompts(fake)).size).toBe(jobs)
        expect(delivered().sort()).toEqual(Array.from({ length: jobs }, (_, i) => `job-${i}`).sort())
      }),
    45_000
  )
})
