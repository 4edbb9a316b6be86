/**
 * minibot side by side with the bot a user would write instead (bench/baseline-bot.mjs: grammY,
 * openai, a JSON history file), both as processes talking to the same loopback fake Bot API and
 * fake LLM (no flood limits on the fake, so neither is held back by it):
 *
 * - start to ready: spawn until the first getUpdates reaches the fake;
 * - idle RSS three seconds after that;
 * - overhead per message in one chat: the update offered to getUpdates until the reply's
 *   sendMessage reached the fake, minus the fake LLM's time on that request; one message every
 *   1.1 s, so a per-chat send rate of one a second never adds waiting; and the CPU time per reply
 *   in that run (less what the process uses idle, measured over 5 s after it);
 * - a load of C chats x M messages spread over T seconds: reply latency (update offered to reply
 *   received, LLM time included) and resident memory: peak, right after, and S seconds after.
 *
 * `BENCH_TG_LOAD=CxM/T` and `BENCH_TG_SETTLE=S` change the load (default 200x10/80, 60 s: 25 messages a
 * second, under Telegram's overall 30 a second, which minibot keeps and the minimal bot ignores, so
 * the latency measured is the daemon's, not a send queue's; 200x10/60 is over that limit).
 * `BENCH_ONLY=tg-solo` measures only the one-chat overhead (and the Bot API calls per reply), for
 * profiling; `BENCH_TG_CONTENDER=minibot` (or `baseline`) runs only that one.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { type FakeLlmServer, startFakeLlm } from "../test/support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../test/support/FakeTelegram.ts"
import {
  cpuMs,
  llmTimes,
  median,
  printRows,
  quantile,
  root,
  rssMb,
  sleep,
  spawnDaemon,
  stopDaemon,
  telegramDaemonToml,
  tmp
} from "./support.ts"

const [, chats = "200", perChat = "10", seconds = "80"] =
  /^(\d+)x(\d+)\/(\d+)$/.exec(process.env.BENCH_TG_LOAD ?? "") ??
    []
const load = { chats: Number(chats), perChat: Number(perChat), seconds: Number(seconds) }
const settleSeconds = Number(process.env.BENCH_TG_SETTLE ?? 60)
const soloOnly = process.env.BENCH_ONLY === "tg-solo"
const soloMessages = Number(process.env.BENCH_TG_SOLO ?? 30)
const soloChat = 42
const loadChat = (c: number) => 10_000 + c
const allowedIds = [soloChat, ...Array.from({ length: load.chats }, (_, c) => loadChat(c))]

interface Contender {
  readonly name: string
  readonly start: (dir: string, tg: FakeTelegramServer, llm: FakeLlmServer) => ChildProcess
}

const baseline: Contender = {
  name: "baseline bot",
  start: (dir, tg, llm) =>
    spawn(process.execPath, [path.join(root, "bench", "baseline-bot.mjs")], {
      cwd: dir,
      stdio: ["ignore", "ignore", "inherit"],
      env: {
        ...process.env,
        TELEGRAM_BOT_TOKEN: tg.token,
        TELEGRAM_API_ROOT: tg.url,
        OPENAI_API_KEY: "sk-bench",
        OPENAI_BASE_URL: llm.url,
        ALLOWED_USER_IDS: allowedIds.join(","),
        HISTORY_FILE: path.join(dir, "history.json")
      }
    })
}

const minibot: Contender = {
  name: "minibot",
  start: (dir, tg, llm) =>
    spawnDaemon(
      dir,
      telegramDaemonToml({
        dir,
        tg,
        llm,
        access: `allowed_user_ids = [${allowedIds.join(", ")}]`,
        ...(process.env.BENCH_LOG_LEVEL === undefined ? {} : { logLevel: process.env.BENCH_LOG_LEVEL })
      }),
      "inherit"
    )
}

/** When the reply to `text` reached the fake, waiting for it up to `timeoutMs`. */
const replyAt = async (tg: FakeTelegramServer, text: string, timeoutMs = 30_000) => {
  const find = () => tg.sent.find((m) => m.visibleText === `echo: ${text}`)
  await tg.waitFor(() => find() !== undefined, timeoutMs)
  return find()!.at
}

const measure = async (contender: Contender, llm: FakeLlmServer) => {
  const tg = await startFakeTelegram({ floodLimits: false })
  llm.reset()
  const llmMs = llmTimes(llm)
  const dir = tmp("minibot-bench-tg-")
  const t0 = Date.now()
  const child = contender.start(dir, tg, llm)
  try {
    await tg.waitFor((f) => f.callsOf("getUpdates").length > 0, 30_000)
    const readyMs = tg.callsOf("getUpdates")[0]!.at - t0
    await sleep(3000)
    const idleRss = rssMb(child.pid!)

    for (let i = 0; i < 3; i++) {
      tg.pushText({ chatId: soloChat, userId: soloChat, text: `warm ${i}` })
      await replyAt(tg, `warm ${i}`)
      await sleep(1100)
    }
    const overhead: Array<number> = []
    const callsBefore = tg.calls.length
    const cpuBefore = cpuMs(child.pid!)
    for (let i = 0; i < soloMessages; i++) {
      const text = `solo ${i}`
      const pushed = Date.now()
      tg.pushText({ chatId: soloChat, userId: soloChat, text })
      overhead.push((await replyAt(tg, text)) - pushed - llmMs(text))
      await sleep(Math.max(0, pushed + 1100 - Date.now()))
    }
    const cpuSolo = cpuMs(child.pid!) - cpuBefore
    // The daemon's CPU time while idle (timers, polling; after a settling pause, as compilation
    // and GC go on for a while after work), to tell it from the cost of a reply.
    await sleep(3000)
    const idleFrom = cpuMs(child.pid!)
    await sleep(5000)
    const idleCpuPerSecond = (cpuMs(child.pid!) - idleFrom) / 5
    const cpuPerReply = cpuSolo / soloMessages - idleCpuPerSecond * 1.1
    // Bot API calls per reply in the one-chat run, by method (getUpdates is the long poll).
    const callsPerReply: Record<string, number> = {}
    for (const call of tg.calls.slice(callsBefore)) {
      callsPerReply[call.method] = (callsPerReply[call.method] ?? 0) + 1 / soloMessages
    }
    if (soloOnly) {
      return {
        readyMs,
        idleRss,
        overhead,
        cpuPerReply,
        idleCpuPerSecond,
        callsPerReply,
        latencies: [],
        peakRss: 0,
        afterRss: 0,
        settledRss: 0
      }
    }

    const total = load.chats * load.perChat
    const pushedAt = new Map<string, number>()
    let peakRss = idleRss
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(child.pid!))), 250)
    const started = Date.now()
    for (let k = 0; k < total; k++) {
      // Round by round, chats in turn: each chat writes every T/M seconds.
      const due = started + (k / total) * load.seconds * 1000
      await sleep(Math.max(0, due - Date.now()))
      const c = k % load.chats
      const text = `load ${c} ${Math.floor(k / load.chats)}`
      pushedAt.set(text, Date.now())
      tg.pushText({ chatId: loadChat(c), userId: loadChat(c), text })
    }
    const latencies: Array<number> = []
    for (const [text, at] of pushedAt) latencies.push((await replyAt(tg, text, 120_000)) - at)
    clearInterval(sampler)
    const afterRss = rssMb(child.pid!)
    await sleep(settleSeconds * 1000)
    const settledRss = rssMb(child.pid!)
    return {
      readyMs,
      idleRss,
      overhead,
      cpuPerReply,
      idleCpuPerSecond,
      callsPerReply,
      latencies,
      peakRss,
      afterRss,
      settledRss
    }
  } finally {
    await stopDaemon(child)
    await tg.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** A ratio to a figure of 0 (the minimal bot uses no CPU while idle) means nothing: a dash. */
const ratio = (ours: number, theirs: number) => theirs > 0 ? `${(ours / theirs).toFixed(2)}x` : "-"

const perReply = (calls: Record<string, number>) =>
  Object.entries(calls).map(([method, n]) => `${method} ${n.toFixed(1)}`).join(", ")

/** `BENCH_ONLY=tg-solo`: the one-chat overhead of each contender (or the one named), and its calls. */
const solo = async (llm: FakeLlmServer) => {
  const only = process.env.BENCH_TG_CONTENDER
  for (const contender of [baseline, minibot]) {
    if (only !== undefined && !contender.name.startsWith(only)) continue
    const r = await measure(contender, llm)
    console.error(
      `${contender.name}: 1 chat, LLM 0 ms: overhead p50 ${median(r.overhead).toFixed(1)} ms / p99 ` +
        `${quantile(r.overhead, 0.99).toFixed(1)} ms; CPU per reply ${r.cpuPerReply.toFixed(1)} ms ` +
        `(idle ${r.idleCpuPerSecond.toFixed(1)} ms/s not counted); ` +
        `Bot API calls per reply: ${perReply(r.callsPerReply)}`
    )
  }
}

/** Rows of `| measure | baseline | minibot | ratio |`. */
export const main = async (): Promise<Array<[string, string, string, string]>> => {
  const llm = await startFakeLlm()
  try {
    if (soloOnly) return (await solo(llm), [])
    const base = await measure(baseline, llm)
    const ours = await measure(minibot, llm)
    const ms = (n: number) => `${n.toFixed(1)} ms`
    const mb = (n: number) => `${n.toFixed(0)} MB`
    const rows: Array<[string, string, string, string]> = []
    const row = (name: string, f: (r: typeof base) => number, unit: (n: number) => string) =>
      rows.push([name, unit(f(base)), unit(f(ours)), ratio(f(ours), f(base))])
    row("start to ready (first getUpdates)", (r) => r.readyMs, ms)
    row("idle RSS (ready + 3 s)", (r) => r.idleRss, mb)
    row("1 chat, LLM 0 ms: overhead p50", (r) => median(r.overhead), ms)
    row("1 chat, LLM 0 ms: overhead p99", (r) => quantile(r.overhead, 0.99), ms)
    row("1 chat, LLM 0 ms: CPU time per reply", (r) => r.cpuPerReply, ms)
    row("idle CPU time per second", (r) => r.idleCpuPerSecond, ms)
    const shape = `${load.chats} chats x ${load.perChat} over ${load.seconds} s`
    row(`${shape}: reply latency p50`, (r) => median(r.latencies), ms)
    row(`${shape}: reply latency p99`, (r) => quantile(r.latencies, 0.99), ms)
    row(`${shape}: peak RSS growth`, (r) => r.peakRss - r.idleRss, mb)
    row(`${shape}: RSS growth ${settleSeconds} s after`, (r) => r.settledRss - r.idleRss, mb)
    return rows
  } finally {
    await llm.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printRows(main, ["measure", "baseline bot", "minibot", "minibot / baseline"])
}
