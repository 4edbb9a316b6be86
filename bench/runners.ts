/**
 * Runners on one Postgres (127.0.0.1:5432, a database of its own, dropped afterwards): 1, 2 and 3
 * `minibot run` processes sharing one loopback fake Bot API and one fake LLM that answers at once.
 * Replies are not streamed (no previews), and each runner keeps its own replies under Telegram's
 * overall 30 a second, so that is the ceiling of one runner here.
 *
 * - throughput and overhead per message with 100 conversations: each chat sends its next message
 *   when the previous is answered; overhead is the update offered to getUpdates until the reply's
 *   sendMessage reached the fake, minus the fake LLM's time on that request;
 * - the extra latency of a conversation owned by another runner than the one that polls Telegram:
 *   one message at a time, alternating chats on the poller's shards and on the others', the
 *   difference of the medians; with the runners' sockets (`[cluster] runner_address`) and, for
 *   comparison, without (the owner finds the message at its next read of the mailboxes);
 * - failover: kill -9 of the polling runner until another runner's getUpdates reaches the fake.
 *
 * `BENCH_ONLY=runners npm run bench` runs only this.
 */
import { Effect, Exit, Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../test/support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../test/support/FakeTelegram.ts"
import { freshDatabase, serverUrl } from "../test/support/Postgres.ts"
import { freePort } from "../test/support/Process.ts"
import { median, printRows, quantile, sleep, spawnDaemon, stopDaemon, telegramDaemonToml, tmp } from "./support.ts"

const loadChats = Array.from({ length: 100 }, (_, i) => 1 + i)
const loadRounds = 2
/** Chats for the one-at-a-time latency: a fresh one per message, so no history grows. */
const probeChats = Array.from({ length: 400 }, (_, i) => 5000 + i)
const probesPerSide = 10

/** The shard of a conversation, as @effect/cluster 0.60.2 computes it (300 shards, one group). */
const shardOf = (chatId: number) => {
  const key = `telegram:${chatId}`
  let h = 5381
  for (let i = key.length; i > 0;) h = (h * 33) ^ key.charCodeAt(--i)
  h = (h & 0xbfffffff) | ((h >>> 1) & 0x40000000)
  return Math.abs(h % 300) + 1
}

interface Runner {
  readonly child: ChildProcess
  readonly httpPort: number
  readonly log: { text: string }
}

interface ApiStatus {
  readonly cluster: {
    readonly telegramPoller: string | null
    readonly thisRunner: string
    readonly runners: ReadonlyArray<
      { readonly address: string; readonly alive: boolean; readonly shards: Array<number> }
    >
  }
}

const startRunner = async (
  dbUrl: string,
  tg: FakeTelegramServer,
  llm: FakeLlmServer,
  direct: boolean
): Promise<Runner> => {
  const dir = tmp("minibot-bench-runner-")
  const httpPort = await freePort()
  const cluster = direct ? `[cluster]\nrunner_address = "127.0.0.1:${await freePort()}"` : ""
  const child = spawnDaemon(
    dir,
    telegramDaemonToml({
      dir,
      tg,
      llm,
      access: `allowed_user_ids = [${[...loadChats, ...probeChats].join(", ")}]`,
      extra: `streaming = "off"
[storage]
backend = "postgres"
postgres_url = "${dbUrl}"
[http]
enabled = true
port = ${httpPort}
${cluster}`
    }),
    "pipe"
  )
  const log = { text: "" }
  child.stderr!.on("data", (d: Buffer) => (log.text += d.toString()))
  return { child, httpPort, log }
}

const statusOf = (r: Runner) =>
  fetch(`http://127.0.0.1:${r.httpPort}/api/status`).then((res) => res.json() as Promise<ApiStatus>)

/** Waits until the runners hold the 300 shards between them and one polls Telegram. */
const settled = async (runners: ReadonlyArray<Runner>) => {
  const deadline = Date.now() + 60_000
  for (;;) {
    const status = await statusOf(runners[0]!).catch(() => undefined)
    const holding = status?.cluster.runners.filter((r) => r.alive && r.shards.length > 0) ?? []
    if (
      status?.cluster.telegramPoller && holding.length === runners.length &&
      holding.reduce((n, r) => n + r.shards.length, 0) === 300
    ) return status
    if (Date.now() > deadline) {
      throw new Error(`runners never settled: ${JSON.stringify(status)}\n${runners.map((r) => r.log.text).join("\n")}`)
    }
    await sleep(200)
  }
}

const replyAt = async (tg: FakeTelegramServer, text: string, timeoutMs = 60_000) => {
  const find = () => tg.sent.find((m) => m.visibleText === `echo: ${text}`)
  await tg.waitFor(() => find() !== undefined, timeoutMs)
  return find()!.at
}

const llmMs = (llm: FakeLlmServer, text: string) =>
  llm.completions().find((r) => lastUserContent(r.body) === text)?.handledMs ?? 0

/** Update offered until reply received, minus LLM time. */
const roundTrip = async (tg: FakeTelegramServer, llm: FakeLlmServer, chat: number, text: string) => {
  const pushed = Date.now()
  tg.pushText({ chatId: chat, userId: chat, text })
  return (await replyAt(tg, text)) - pushed - llmMs(llm, text)
}

interface Measured {
  throughput?: number
  overhead?: Array<number>
  local?: Array<number>
  remote?: Array<number>
  failoverMs?: number
}

const measure = async (
  size: number,
  options: { readonly direct: boolean; readonly load: boolean; readonly failover: boolean }
): Promise<Measured> => {
  const scope = Effect.runSync(Scope.make())
  const tg = await startFakeTelegram({ floodLimits: false })
  const llm = await startFakeLlm()
  const runners: Array<Runner> = []
  try {
    const db = await Effect.runPromise(Scope.extend(freshDatabase, scope))
    // One after the other: a new database is migrated by the first, and the machine has few cores.
    for (let i = 0; i < size; i++) runners.push(await startRunner(db.url, tg, llm, options.direct))
    const status = await settled(runners)
    const out: Measured = {}

    await Promise.all(loadChats.map((chat) => roundTrip(tg, llm, chat, `warm ${chat}`)))
    if (options.load) {
      const overhead: Array<number> = []
      const started = Date.now()
      await Promise.all(loadChats.map(async (chat) => {
        for (let r = 0; r < loadRounds; r++) overhead.push(await roundTrip(tg, llm, chat, `load ${chat} ${r}`))
      }))
      out.throughput = overhead.length / ((Date.now() - started) / 1000)
      out.overhead = overhead
    }

    if (size > 1) {
      const pollerShards = new Set(
        status.cluster.runners.find((r) => r.address === status.cluster.telegramPoller)!.shards
      )
      const local = probeChats.filter((c) => pollerShards.has(shardOf(c))).slice(0, probesPerSide)
      const remote = probeChats.filter((c) => !pollerShards.has(shardOf(c))).slice(0, probesPerSide)
      out.local = []
      out.remote = []
      for (let i = 0; i < probesPerSide; i++) {
        out.local.push(await roundTrip(tg, llm, local[i]!, `probe ${local[i]}`))
        out.remote.push(await roundTrip(tg, llm, remote[i]!, `probe ${remote[i]}`))
      }
    }

    if (options.failover) {
      const pollerPort = (await Promise.all(runners.map(statusOf))).findIndex(
        (s) => s.cluster.thisRunner === status.cluster.telegramPoller
      )
      const poller = runners.splice(pollerPort, 1)[0]!
      const killedAt = Date.now()
      poller.child.kill("SIGKILL")
      await tg.waitFor((f) => f.callsOf("getUpdates").some((c) => c.at > killedAt + 100), 30_000)
      out.failoverMs = tg.callsOf("getUpdates").find((c) => c.at > killedAt + 100)!.at - killedAt
    }
    return out
  } finally {
    const running = runners.filter((r) => r.child.exitCode === null && r.child.signalCode === null)
    await Promise.all(running.map((r) => stopDaemon(r.child)))
    await tg.close()
    await llm.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const ms = (n: number) => `${n.toFixed(1)} ms`

/** Rows of `| measure | value |`. */
export const main = async (): Promise<Array<[string, string]>> => {
  const rows: Array<[string, string]> = []
  const report = (name: string, value: string) => {
    rows.push([name, value])
    console.error(`${name}: ${value}`)
  }
  const reachable = await Effect.runPromise(
    Effect.scoped(freshDatabase).pipe(Effect.as(true), Effect.catchAllDefect(() => Effect.succeed(false)))
  )
  if (!reachable) {
    report("runners on Postgres", `not measured: no PostgreSQL at ${new URL(serverUrl).host}`)
    return rows
  }
  for (const size of [1, 2, 3]) {
    const m = await measure(size, { direct: true, load: true, failover: size > 1 })
    const name = `${size} runner${size > 1 ? "s" : ""}, 100 conversations, LLM 0 ms`
    report(`${name}: throughput`, `${m.throughput!.toFixed(0)} msg/s`)
    report(`${name}: overhead p50 / p99`, `${ms(median(m.overhead!))} / ${ms(quantile(m.overhead!, 0.99))}`)
    if (m.local) {
      report(
        `${size} runners: one message, owner polls / another runner owns it, p50`,
        `${ms(median(m.local))} / ${ms(median(m.remote!))} (extra ${ms(median(m.remote!) - median(m.local))})`
      )
    }
    if (m.failoverMs !== undefined) {
      report(`${size} runners: kill -9 of the poller until another polls`, ms(m.failoverMs))
    }
  }
  const polling = await measure(2, { direct: false, load: false, failover: false })
  report(
    "2 runners without runner_address (mailbox polling, 1 s): owner polls / another runner owns it, p50",
    `${ms(median(polling.local!))} / ${ms(median(polling.remote!))} (extra ${
      ms(median(polling.remote!) - median(polling.local!))
    })`
  )
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) printRows(main, ["measure", "value"])
