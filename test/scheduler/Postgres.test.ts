import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Layers from "../../src/app/Layers.ts"
import { AppConfig } from "../../src/config/Config.ts"
import { Llm } from "../../src/llm/Llm.ts"
import * as Database from "../../src/storage/Database.ts"
import { spawnMinibot, writeConfig } from "../support/Daemon.ts"
import { FakeLlm, lastUserContent } from "../support/FakeLlm.ts"
import { makeHarness, tempDir } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"
import { callTool, pollUntil } from "./helpers.ts"

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
      expect(fake.completions().at(-1)!.body.messages.map((m) => m.content).slice(1)).toEqual(["first", "echo: first", "second"])

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

describe("two runners on one Postgres", () => {
  it.scopedLive("split the conversations and fire each job exactly once", () =>
    Effect.gen(function*() {
      const db = yield* freshDatabase
      const fake = yield* FakeLlm.make()
      const dir = tempDir()
      const other = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawnMinibot(["run", "--config", writeConfig(dir, `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${fake.url}"
model = "fake-model"
[channels.console]
enabled = true
[storage]
backend = "postgres"
postgres_url = "${db.url}"
`)], { cwd: dir })
        ),
        (p) => Effect.promise(async () => {
          if (p.child.exitCode === null) p.child.kill("SIGTERM")
          await p.exited
        })
      )
      yield* Effect.promise(() => other.waitForStderr(/minibot started/))
      const h = yield* makeHarness(fake, { config: { storage: { backend: "postgres", postgres_url: db.url } }, layer: onPostgres(db.url) })

      const jobs = 40
      const start = Date.now() + 3000
      for (let i = 0; i < jobs; i++) {
        const created = yield* callTool(h, `chat-${i}`, "schedule_prompt", {
          prompt: `job-${i}`,
          run_at: new Date(start + i * 25).toISOString()
        })
        expect(created.ok).toBe(true)
      }
      const fired = () => fake.completions().filter((r) => lastUserContent(r.body).startsWith("Scheduled instruction"))
      yield* Effect.promise(() => fake.waitFor(() => fired().length >= jobs, 15_000))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2500)))
      const prompts = fired().map((r) => /: (job-\d+)\n/.exec(lastUserContent(r.body))![1]!)
      expect(prompts.sort()).toEqual(Array.from({ length: jobs }, (_, i) => `job-${i}`).sort())
      // Every answer delivered once, by whichever runner owns the conversation; both had some.
      const here = h.replies.filter((r) => r.text.startsWith("echo: Scheduled")).length
      const there = (other.stdout.match(/^echo: Scheduled/gm) ?? []).length
      expect(here + there).toBe(jobs)
      expect(here).toBeGreaterThan(0)
      expect(there).toBeGreaterThan(0)
    }), 40_000)
})
