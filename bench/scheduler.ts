/**
 * The scheduler's figures (`node --import tsx bench/scheduler.ts`, after `npm run build`):
 *
 * - firing lateness p50 / p99: 1,000 `message` jobs (no LLM) over 100 conversations, due at
 *   random times within the same minute; lateness = reply delivered minus due time, measured
 *   in-process on a fresh SQLite file. Also a burst: 1,000 jobs due in the same second.
 * - idle CPU with 10,000 pending jobs: the compiled daemon started on a data dir holding 10,000
 *   jobs due tomorrow, CPU time (user + system, from /proc) over 20 s once it is ready; and the
 *   same with no jobs, for comparison. `BENCH_ONLY=idle` measures only these, `BENCH_ONLY=burst`
 *   only the burst (for profiling).
 *
 * Prints a table in the format of bench/run.ts. `BENCH_SPREAD_S` shortens the minute (e.g. 10).
 * `main` is exported for bench/run.ts; rows are returned as [measure, value].
 */
import { Effect, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Llm, textCompletion } from "../src/llm/Llm.ts"
import { Scheduler } from "../src/scheduler/Scheduler.ts"
import { printRows, quantile, root, runtimeAt, sleep, spawnDaemon, stopDaemon, tmp } from "./support.ts"

const ms = (n: number) => `${n.toFixed(1)} ms`

/** The in-process runtime (LLM answered in-process) on a SQLite file under `dataDir`; its Scheduler. */
const schedulerAt = (dataDir: string, delivered: (chatId: string, text: string, at: number) => void) =>
  Effect.flatMap(
    runtimeAt({
      dataDir,
      llm: Llm.fromFunction(() => Effect.succeed(textCompletion("ok"))),
      config: { scheduler: { min_interval_seconds: 1 } },
      delivered: (message) => delivered(message.conversation.chatId, message.text, Date.now())
    }),
    (context) => Effect.provide(Scheduler, context)
  )

const run = <A>(effect: Effect.Effect<A, unknown, never>) =>
  Effect.runPromise(effect.pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning))))

/** Schedules `count` message jobs due at `dueAt(i)` over 100 chats; resolves with their lateness once all are delivered. */
const lateness = (count: number, dueAt: (i: number) => number) =>
  run(Effect.scoped(Effect.gen(function*() {
    const due = new Map<string, number>()
    const late: Array<number> = []
    const scheduler = yield* schedulerAt(tmp("minibot-bench-sched-"), (_, text, at) => {
      const d = due.get(text)
      if (d !== undefined) late.push(at - d)
    })
    for (let i = 0; i < count; i++) {
      const text = `job ${i}`
      const at = dueAt(i)
      due.set(text, at)
      yield* scheduler.schedule(
        { ownerId: `bench-${i % 100}`, conversation: { channel: "console", chatId: `chat-${i % 100}` }, userId: null },
        { strategy: "message", payload: text, runAt: new Date(at).toISOString() }
      )
    }
    const deadline = Math.max(...due.values()) + 30_000
    while (late.length < count && Date.now() < deadline) yield* Effect.promise(() => sleep(50))
    if (late.length < count) throw new Error(`only ${late.length} of ${count} jobs fired`)
    return late
  })))

const cpuSeconds = (pid: number) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  // utime + stime, in clock ticks (USER_HZ, 100 on Linux)
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** 10,000 jobs due tomorrow in a data dir, then the daemon's CPU over `windowMs` once idle. */
const idleCpu = async (jobs: number, windowMs: number) => {
  const dir = tmp("minibot-bench-idle-")
  const dataDir = path.join(dir, "data")
  fs.mkdirSync(dataDir, { recursive: true })
  const tomorrow = Date.now() + 24 * 3600_000
  await run(Effect.scoped(Effect.gen(function*() {
    const scheduler = yield* schedulerAt(dataDir, () => {})
    yield* Effect.forEach(
      Array.from({ length: jobs }, (_, i) => i),
      (i) =>
        scheduler.schedule(
          { ownerId: `idle-${i % 500}`, conversation: { channel: "console", chatId: `chat-${i % 500}` }, userId: null },
          { strategy: "message", payload: `later ${i}`, runAt: new Date(tomorrow + i * 1000).toISOString() }
        ),
      { concurrency: 16, discard: true }
    )
  })))
  const child = spawnDaemon(
    dir,
    `
[runtime]
data_dir = "${dataDir}"
log_level = "info"
[llm]
base_url = "http://127.0.0.1:9/v1"
[channels.console]
enabled = true
`,
    "pipe"
  )
  let stderr = ""
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
  const t0 = Date.now()
  while (!/minibot started/.test(stderr)) {
    if (Date.now() - t0 > 30_000) throw new Error(`daemon did not start: ${stderr}`)
    await sleep(20)
  }
  await sleep(3000)
  const before = cpuSeconds(child.pid!)
  await sleep(windowMs)
  const used = cpuSeconds(child.pid!) - before
  await stopDaemon(child)
  return (used / (windowMs / 1000)) * 100
}

export const main = async (): Promise<Array<[string, string]>> => {
  if (!fs.existsSync(path.join(root, "dist", "main.js"))) {
    throw new Error("run `npm run build` first (npm run bench does)")
  }
  const rows: Array<[string, string]> = []
  const report = (name: string, value: string) => {
    rows.push([name, value])
    console.error(`${name}: ${value}`)
  }
  const spreadMs = Number(process.env.BENCH_SPREAD_S ?? 60) * 1000
  if (process.env.BENCH_ONLY === "burst") {
    const burstAt = Date.now() + 5000
    const burst = await lateness(1000, () => burstAt)
    report(
      "firing lateness, 1,000 jobs due at the same instant: p50 / p99",
      `${ms(quantile(burst, 0.5))} / ${ms(quantile(burst, 0.99))}`
    )
    return rows
  }
  if (process.env.BENCH_ONLY !== "idle") {
    const start = Date.now() + 5000
    const spread = await lateness(1000, () => start + Math.random() * spreadMs)
    report(
      `firing lateness, 1,000 jobs due within ${spreadMs / 1000} s: p50 / p99`,
      `${ms(quantile(spread, 0.5))} / ${ms(quantile(spread, 0.99))}`
    )
    const burstAt = Date.now() + 5000
    const burst = await lateness(1000, () => burstAt)
    report(
      "firing lateness, 1,000 jobs due at the same instant: p50 / p99",
      `${ms(quantile(burst, 0.5))} / ${ms(quantile(burst, 0.99))}`
    )
  }
  const baseline = await idleCpu(0, 20_000)
  report("idle CPU with no jobs (20 s, for comparison)", `${baseline.toFixed(2)} %`)
  const cpu = await idleCpu(10_000, 20_000)
  report("idle CPU with 10,000 pending jobs (20 s)", `${cpu.toFixed(2)} %`)
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printRows(main, ["measure", `${os.cpus().length} cores, node ${process.version}`])
}
