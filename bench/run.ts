/**
 * `npm run bench`: the daemon's own cost, measured against a loopback fake LLM.
 *
 * - overhead per message: reply delivered minus message submitted, minus the time the fake LLM
 *   spent on that message's request (so LLM time is excluded), for one conversation and for 100
 *   conversations at once, with the fake (a process of its own) answering at once and after a
 *   fixed latency;
 * - throughput of the 100-conversation run;
 * - start to ready: spawning `minibot run` until `/readyz` answers 200;
 * - idle RSS of that daemon after it has been idle a few seconds;
 * - the scheduler's firing lateness and idle CPU (bench/scheduler.ts);
 * - streamed replies: first token to first preview, Bot API calls per reply (bench/streaming.ts);
 * - runners on one Postgres: throughput, overhead, another runner's conversation, failover (bench/runners.ts);
 * - minibot side by side with a minimal grammY + openai bot, as processes through the same fakes,
 *   each figure as a ratio to that baseline (bench/telegram.ts).
 * - `/api/status` latency, and turns with 10 `/api/events` clients attached (bench/control.ts).
 * Medians of repeated runs; the machine is shared, so read ratios, not single figures.
 */
import { Effect, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { InboundMessage } from "../src/domain/Inbound.ts"
import { Llm, textCompletion } from "../src/llm/Llm.ts"
import { Actors } from "../src/runtime/Actors.ts"
import { type FakeLlmServer, startFakeLlm } from "../test/support/FakeLlm.ts"
import { freePort } from "../test/support/Process.ts"
import * as ControlBench from "./control.ts"
import * as RunnersBench from "./runners.ts"
import * as SchedulerBench from "./scheduler.ts"
import * as StreamingBench from "./streaming.ts"
import {
  type BenchLlm,
  fakeLlmProcess,
  inProcessLlm,
  median,
  quantile,
  root,
  rssMb,
  runtimeAt,
  spawnDaemon,
  stopDaemon,
  tmp
} from "./support.ts"
import * as TelegramBench from "./telegram.ts"

const ms = (n: number) => `${n.toFixed(2)} ms`

/**
 * The fake LLM the in-process runs talk to, answering after `latencyMs`: in a process of its own,
 * or with `BENCH_FAKE_LLM=in-process` in this one (as before; see `fakeLlmProcess` for what that
 * adds to the figures).
 */
const benchLlm = async (latencyMs: number): Promise<BenchLlm> =>
  process.env.BENCH_FAKE_LLM === "in-process"
    ? inProcessLlm(await startFakeLlm({ latencyMs }))
    : fakeLlmProcess(latencyMs)

interface Sample {
  readonly totalMs: number
  readonly overheadMs: number
}

/** Runs `body` against the in-process runtime on a fresh SQLite file. */
const withRuntime = <A>(
  fake: BenchLlm,
  body: (send: (chat: string, text: string) => Promise<Sample>) => Promise<A>
) =>
  Effect.gen(function*() {
    const pending = new Map<string, (at: number) => void>()
    // BENCH_LLM=inline answers in-process, to separate the daemon's cost from the HTTP client's.
    const llm = process.env.BENCH_LLM === "inline"
      ? Llm.fromFunction(() => Effect.succeed(textCompletion("ok")))
      : Llm.openai
    const context = yield* runtimeAt({
      dataDir: tmp("minibot-bench-"),
      llm,
      config: { llm: { base_url: fake.url } },
      delivered: (message, at) => pending.get(message.inReplyTo!.messageId)?.(at)
    })
    const conversations = yield* Effect.provide(Actors, context)
    let n = 0
    const send = (chat: string, text: string) => {
      const messageId = `b${++n}`
      const submitted = performance.now()
      const delivered = new Promise<number>((resolve) => pending.set(messageId, resolve))
      return Effect.runPromise(
        conversations.submit(
          new InboundMessage({
            messageId,
            conversation: { channel: "console", chatId: chat },
            text,
            receivedAt: Date.now(),
            requestId: messageId
          })
        )
      ).then(() => delivered).then(async (at) => {
        pending.delete(messageId)
        const llm = await fake.handledMs(text)
        const totalMs = at - submitted
        return { totalMs, overheadMs: totalMs - llm }
      })
    }
    return yield* Effect.promise(() => body(send))
  }).pipe(Effect.scoped, Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)), Effect.runPromise)

const oneConversation = (fake: BenchLlm, messages: number) =>
  withRuntime(fake, async (send) => {
    for (let i = 0; i < 20; i++) await send("warm", `warm ${i}`)
    const samples: Array<Sample> = []
    for (let i = 0; i < messages; i++) samples.push(await send("solo", `solo ${i}`))
    return samples
  })

const manyConversations = (fake: BenchLlm, conversations: number, rounds: number) =>
  withRuntime(fake, async (send) => {
    for (let i = 0; i < 20; i++) await send("warm", `warm ${i}`)
    const samples: Array<Sample> = []
    const started = performance.now()
    await Promise.all(
      Array.from({ length: conversations }, async (_, c) => {
        for (let r = 0; r < rounds; r++) samples.push(await send(`chat-${c}`, `c${c} r${r}`))
      })
    )
    const seconds = (performance.now() - started) / 1000
    return { samples, throughput: samples.length / seconds }
  })

/** Spawns the compiled daemon; resolves when /readyz says ready; measures idle RSS after `idleMs`. */
const startToReady = async (fake: FakeLlmServer, idleMs: number) => {
  const dir = tmp("minibot-bench-start-")
  const port = await freePort()
  const t0 = performance.now()
  const child = spawnDaemon(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
log_level = "warning"
[llm]
base_url = "${fake.url}"
api_key = "sk-bench"
[channels.console]
enabled = true
[http]
enabled = true
port = ${port}
`,
    "inherit"
  )
  let readyMs = Number.NaN
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`)
      if (res.status === 200) {
        readyMs = performance.now() - t0
        break
      }
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > 30_000) throw new Error("daemon did not become ready in 30 s")
    await new Promise((r) => setTimeout(r, 5))
  }
  await new Promise((r) => setTimeout(r, idleMs))
  const idleRssMb = rssMb(child.pid!)
  await stopDaemon(child)
  return { readyMs, rssMb: idleRssMb }
}

const main = async () => {
  if (process.env.BENCH_ONLY === "control") return void await ControlBench.main()
  if (!fs.existsSync(path.join(root, "dist", "main.js"))) {
    throw new Error("run `npm run build` first (npm run bench does)")
  }
  // BENCH_ONLY=runners runs only the runners on one Postgres.
  if (process.env.BENCH_ONLY === "runners") return void await RunnersBench.main()
  const rows: Array<[string, string]> = []
  const report = (name: string, value: string) => {
    rows.push([name, value])
    console.error(`${name}: ${value}`)
  }
  // BENCH_ONLY=streaming runs only bench/streaming.ts.
  if (process.env.BENCH_ONLY === "streaming") return (await StreamingBench.main()).forEach((r) => report(...r))
  // For profiling: BENCH_ONLY=many0 runs only the 100-conversation run with an instant LLM, solo0
  // only the one-conversation run, tg-solo only the one-chat run through Telegram (bench/telegram.ts).
  if (process.env.BENCH_ONLY === "many0") {
    const fake = await benchLlm(0)
    const many = await manyConversations(fake, 100, 10)
    const overhead = many.samples.map((s) => s.overheadMs)
    report(
      "100 conversations, LLM 0 ms: overhead p50 / p99",
      `${ms(median(overhead))} / ${ms(quantile(overhead, 0.99))}`
    )
    report("100 conversations, LLM 0 ms: throughput", `${many.throughput.toFixed(0)} msg/s`)
    return fake.close()
  }
  if (process.env.BENCH_ONLY === "solo0") {
    const fake = await benchLlm(0)
    const overhead = (await oneConversation(fake, 300)).map((s) => s.overheadMs)
    report("1 conversation, LLM 0 ms: overhead p50 / p99", `${ms(median(overhead))} / ${ms(quantile(overhead, 0.99))}`)
    return fake.close()
  }
  if (process.env.BENCH_ONLY === "tg-solo") return void await TelegramBench.main()
  for (const latency of [0, 50]) {
    let fake = await benchLlm(latency)
    const solo = await oneConversation(fake, latency === 0 ? 300 : 100)
    const overhead = solo.map((s) => s.overheadMs)
    report(
      `1 conversation, LLM ${latency} ms: overhead p50 / p99`,
      `${ms(median(overhead))} / ${ms(quantile(overhead, 0.99))}`
    )
    await fake.close()
    fake = await benchLlm(latency)
    const many = await manyConversations(fake, 100, latency === 0 ? 5 : 3)
    await fake.close()
    const manyOverhead = many.samples.map((s) => s.overheadMs)
    report(
      `100 conversations, LLM ${latency} ms: overhead p50 / p99`,
      `${ms(median(manyOverhead))} / ${ms(quantile(manyOverhead, 0.99))}`
    )
    report(`100 conversations, LLM ${latency} ms: throughput`, `${many.throughput.toFixed(0)} msg/s`)
  }
  const fake = await startFakeLlm()
  const starts: Array<{ readyMs: number; rssMb: number }> = []
  for (let i = 0; i < 5; i++) starts.push(await startToReady(fake, i === 0 ? 3000 : 0))
  report("start to ready (median of 5)", ms(median(starts.map((s) => s.readyMs))))
  report("idle RSS after ready + 3 s", `${starts[0]!.rssMb.toFixed(0)} MB`)
  await fake.close()
  rows.push(...await SchedulerBench.main(), ...await StreamingBench.main(), ...await RunnersBench.main())

  const sideBySide = await TelegramBench.main()
  rows.push(...await ControlBench.main())

  console.log(`\n| measure | ${os.cpus().length} cores, node ${process.version} |\n|---|---|`)
  for (const [name, value] of rows) console.log(`| ${name} | ${value} |`)
  console.log("\n| measure | baseline bot | minibot | minibot / baseline |\n|---|---|---|---|")
  for (const row of sideBySide) console.log(`| ${row.join(" | ")} |`)
}

main().then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
