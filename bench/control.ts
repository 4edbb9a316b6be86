/**
 * The control plane's cost (`BENCH_ONLY=control` runs only this), on the daemon's runtime and
 * `[http]` server in this process, console conversations recorded, the LLM on the loopback fake:
 *
 * - `GET /api/status` latency as a client on loopback sees it;
 * - the daemon's overhead per message (as in run.ts: reply delivered minus message submitted,
 *   minus the fake LLM's time) with no client on `/api/events`, and with 10 clients reading it.
 *   The clients run in a child process, so their parsing is not counted as the daemon's cost.
 *   The two runs alternate (none, 10, none, 10) so that drift of a shared machine hits both;
 *   the process's CPU time per message is given as well, which a loaded machine disturbs less.
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import { spawn } from "node:child_process"
import * as Layers from "../src/app/Layers.ts"
import { ConsoleTerminal } from "../src/channels/console/ConsoleTerminal.ts"
import { ConsoleOut, notEnabled, TelegramOut } from "../src/channels/Outbound.ts"
import { AppConfig, makeConfig } from "../src/config/Config.ts"
import { InboundMessage } from "../src/domain/Inbound.ts"
import { Llm } from "../src/llm/Llm.ts"
import { Actors } from "../src/runtime/Actors.ts"
import * as Database from "../src/storage/Database.ts"
import { lastUserContent, startFakeLlm } from "../test/support/FakeLlm.ts"
import { freePort } from "../test/support/Process.ts"
import { median, quantile, tmp } from "./support.ts"

const token = "bench-api-token-0123456789"
const subscribers = 10
const statusRequests = 500
const messagesPerRound = 150

const ms = (n: number) => `${n.toFixed(2)} ms`

/** A child process holding `count` readers of /api/events; says "ready" once all are streaming. */
const eventReaders = (port: number, count: number) => {
  const script = `
    let open = 0
    const read = async () => {
      const res = await fetch("http://127.0.0.1:${port}/api/events", { headers: { authorization: "Bearer ${token}" } })
      if (res.status !== 200) throw new Error("events: HTTP " + res.status)
      if (++open === ${count}) console.log("ready")
      const reader = res.body.getReader()
      for (;;) if ((await reader.read()).done) return
    }
    for (let i = 0; i < ${count}; i++) read().catch((e) => { console.error(e); process.exit(1) })
  `
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] })
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("ready") && resolve())
    child.on("exit", (code) => reject(new Error(`event readers exited (${code})`)))
  })
  const stop = () => {
    const exited = new Promise((r) => child.on("exit", r))
    child.kill("SIGTERM")
    return exited
  }
  return { ready, stop }
}

export const main = async (): Promise<Array<[string, string]>> => {
  const rows: Array<[string, string]> = []
  const report = (name: string, value: string) => {
    rows.push([name, value])
    console.error(`${name}: ${value}`)
  }
  const fake = await startFakeLlm()
  const port = await freePort()
  const pending = new Map<string, (at: number) => void>()
  const config = makeConfig({
    runtime: { data_dir: tmp("minibot-bench-control-") },
    llm: { base_url: fake.url, api_key: "sk-bench", model: "bench", retry_attempts: 0 },
    http: { enabled: true, port, api_token: token }
  })
  const senders = Layer.mergeAll(
    Layer.succeed(ConsoleOut, {
      send: (message) =>
        Effect.sync(() => (pending.get(message.inReplyTo!.messageId)?.(performance.now()), { chunks: 1 }))
    }),
    Layer.succeed(TelegramOut, notEnabled("telegram")),
    // `[channels.console]` is off: the terminal is never read.
    ConsoleTerminal.Default
  )
  // The daemon as `minibot run` composes it, its senders replaced by the recording one.
  const daemon = Layers.Channels.pipe(
    Layer.provideMerge(Layers.ChannelControl),
    Layer.provideMerge(Layers.runtimeWith(Llm.openai)),
    Layer.provideMerge(Database.sqliteAt(Database.databaseFile(config.runtime.data_dir))),
    Layer.provideMerge(AppConfig.layer(config)),
    Layer.provide(senders)
  )

  await Effect.gen(function*() {
    const context = yield* Layer.build(daemon)
    const conversations = yield* Effect.provide(Actors, context)
    let n = 0
    const send = async (chat: string) => {
      const messageId = `c${++n}`
      const text = `control ${n}`
      const delivered = new Promise<number>((resolve) => pending.set(messageId, resolve))
      const submitted = performance.now()
      await Effect.runPromise(conversations.submit(
        new InboundMessage({
          messageId,
          conversation: { channel: "console", chatId: chat },
          text,
          receivedAt: Date.now(),
          requestId: messageId
        })
      ))
      const at = await delivered
      pending.delete(messageId)
      const llm = fake.completions().find((r) => lastUserContent(r.body) === text)?.handledMs ?? 0
      return at - submitted - llm
    }
    let cpuMs = 0
    const round = async (count: number) => {
      const overheads: Array<number> = []
      const cpu = process.cpuUsage()
      for (let i = 0; i < count; i++) overheads.push(await send("solo"))
      const used = process.cpuUsage(cpu)
      cpuMs = (used.user + used.system) / 1000
      return overheads
    }

    yield* Effect.promise(async () => {
      for (let i = 0; i < 20; i++) await send("warm")

      const status = async () => {
        const t0 = performance.now()
        const res = await fetch(`http://127.0.0.1:${port}/api/status`, {
          headers: { authorization: `Bearer ${token}` }
        })
        if (res.status !== 200) throw new Error(`/api/status: HTTP ${res.status}`)
        await res.json()
        return performance.now() - t0
      }
      for (let i = 0; i < 20; i++) await status()
      const latencies: Array<number> = []
      for (let i = 0; i < statusRequests; i++) latencies.push(await status())
      report(
        `GET /api/status latency (${statusRequests} sequential): p50 / p99`,
        `${ms(median(latencies))} / ${ms(quantile(latencies, 0.99))}`
      )

      const without: Array<number> = []
      const withReaders: Array<number> = []
      const cpu = { without: 0, with: 0 }
      for (let r = 0; r < 2; r++) {
        fake.reset()
        without.push(...await round(messagesPerRound))
        cpu.without += cpuMs
        const readers = eventReaders(port, subscribers)
        await readers.ready
        fake.reset()
        withReaders.push(...await round(messagesPerRound))
        cpu.with += cpuMs
        await readers.stop()
      }
      const messages = 2 * messagesPerRound
      report(
        "1 conversation, LLM 0 ms, no /api/events client: overhead p50 / p99",
        `${ms(median(without))} / ${ms(quantile(without, 0.99))}`
      )
      report(
        `1 conversation, LLM 0 ms, ${subscribers} /api/events clients: overhead p50 / p99`,
        `${ms(median(withReaders))} / ${ms(quantile(withReaders, 0.99))}`
      )
      report(
        `CPU of this process per message (daemon and fake LLM), without / with ${subscribers} clients`,
        `${ms(cpu.without / messages)} / ${ms(cpu.with / messages)}`
      )
      report(
        `${subscribers} /api/events clients: per-message overhead, median with / without`,
        `${(median(withReaders) / median(without)).toFixed(2)}`
      )
    })
  }).pipe(Effect.scoped, Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)), Effect.runPromise)
  await fake.close()
  return rows
}
