/**
 * Three `minibot run` processes on one Postgres and one (fake) Telegram, 50 chats writing all the
 * while: the runner that polls Telegram is killed (-9) or stopped (SIGTERM) in the middle, and
 * every message must still be answered exactly once, by whichever runner owns its chat by then.
 * `minibot status` and `GET /api/status` show who holds what. A message for a conversation another
 * runner owns reaches that runner over the runners' own sockets, not at its next read of the
 * mailboxes. In webhook mode, any runner takes updates, and one update posted to two of them is
 * answered once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import {
  freePort,
  type MinibotProcess,
  postToWebhook,
  processScope,
  requireBuilt,
  runnerKeys,
  telegramDaemonConfig
} from "../support/Daemon.ts"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"
import { databaseDroppedBy, mailboxStateOf } from "../support/Postgres.ts"
import { eventually } from "../support/Wait.ts"

const { adopt, launch, onCleanup } = processScope()
requireBuilt("telegram-poller", "Telegram channel")

const chats = Array.from({ length: 50 }, (_, i) => 1001 + i)
/** The LLM takes this long, so that turns are running when a runner goes away. */
const llmDelayMs = 150

/** A database of its own, dropped after the test. */
const database = databaseDroppedBy(onCleanup)

interface Runner extends MinibotProcess {
  /** `[cluster] runner_address`: where the other runners reach it. */
  readonly address: string
  readonly configFile: string
  readonly dir: string
  /** The `[http]` port (the API on loopback, no token). */
  readonly httpPort: number
}

interface Cluster {
  readonly dbUrl: string
  readonly telegram: FakeTelegramServer
  readonly llm: FakeLlmServer
  readonly runners: ReadonlyArray<Runner>
  /** Round 0: one message from every chat; later rounds: from every other chat, by turns. */
  readonly push: (round: number) => Array<string>
}

const runnerConfig = (
  dir: string,
  telegram: FakeTelegramServer,
  llm: FakeLlmServer,
  dbUrl: string,
  address: string,
  httpPort: number,
  telegramKeys: string,
  settings: string
) =>
  telegramDaemonConfig(
    dir,
    telegram,
    llm,
    `allowed_user_ids = [${chats.join(", ")}]\n${telegramKeys}\n${runnerKeys(dbUrl, address, httpPort)}\n${settings}`
  )

/** `size` runners; `settings` is more TOML for each, after the rest. */
const startCluster = async (size = 3, telegramKeys = "", settings = ""): Promise<Cluster> => {
  const db = await database()
  const telegram = adopt(await startFakeTelegram({ floodLimits: false }))
  const llm = adopt(await startFakeLlm())
  llm.script((request) => ({ content: `echo: ${lastUserContent(request)}`, delayMs: llmDelayMs }))
  const runners = await Promise.all(
    Array.from({ length: size }, async (): Promise<Runner> => {
      const dir = tempDir()
      const address = `127.0.0.1:${await freePort()}`
      const httpPort = await freePort()
      const configFile = runnerConfig(dir, telegram, llm, db.url, address, httpPort, telegramKeys, settings)
      return Object.assign(launch(["run", "--config", configFile], { cwd: dir }), {
        address,
        configFile,
        dir,
        httpPort
      })
    })
  )
  await Promise.all(runners.map((r) => r.waitForStderr(/minibot started/, 30_000)))
  const push = (round: number) =>
    chats.filter((_, i) => round === 0 || i % 2 === round % 2).map((chat) => {
      const text = `chat ${chat} message ${round}`
      telegram.pushText({ chatId: chat, userId: chat, text })
      return text
    })
  return { dbUrl: db.url, telegram, llm, runners, push }
}

const polls = (r: Runner) =>
  r.child.exitCode === null && r.child.signalCode === null &&
  r.stderr.lastIndexOf("long polling started") > r.stderr.lastIndexOf("telegram-poller stopped")

/** The one runner that says it polls Telegram now (once one does). */
const pollerOf = async (runners: ReadonlyArray<Runner>, except?: Runner) => {
  const candidates = runners.filter((r) => r !== except)
  await Effect.runPromise(
    eventually(() => candidates.filter(polls).length > 0, "a runner that says it polls Telegram", 30_000)
  )
  const polling = candidates.filter(polls)
  expect(polling).toHaveLength(1)
  return polling[0]!
}

/**
 * The first getUpdates Telegram received after `at`. The runner logs "long polling started" just
 * before it asks, so the call may reach the fake a moment after the line.
 */
const pollAfter = async (telegram: FakeTelegramServer, at: number) => {
  const after = () => telegram.callsOf("getUpdates").find((c) => c.at > at)
  await telegram.waitFor(() => after() !== undefined, 10_000)
  return after()!
}

/** `minibot status` run beside the daemons, with `runner`'s config: what it prints. */
const statusOf = async (runner: Runner) => {
  const p = launch(["status", "--config", runner.configFile], { cwd: runner.dir })
  const { code } = await p.exited
  expect(code, p.stderr).toBe(0)
  return p.stdout
}

/** `GET /api/status` of the runner (on loopback, no token needed). */
const apiStatus = (runner: Runner) => fetch(`http://127.0.0.1:${runner.httpPort}/api/status`).then((r) => r.json())

interface ApiRunner {
  readonly address: string
  readonly alive: boolean
  readonly shards: ReadonlyArray<number>
}

/**
 * Waits (asking `GET /api/status` of `runner`) until the 300 shards are held by `alive` and no
 * other runner, each shard once; returns that status.
 */
const settled = async (runner: Runner, alive: ReadonlyArray<Runner>) => {
  const everyShard = Array.from({ length: 300 }, (_, i) => i + 1).join()
  const addresses = alive.map((r) => r.address).sort().join()
  let last: unknown
  const done = async () => {
    last = await apiStatus(runner)
    const runners = (last as { cluster: { runners: Array<ApiRunner> } }).cluster.runners
    const holding = runners.filter((r) => r.shards.length > 0)
    return holding.map((r) => r.address).sort().join() === addresses &&
      holding.every((r) => r.alive) &&
      holding.flatMap((r) => r.shards).sort((a, b) => a - b).join() === everyShard
  }
  const deadline = Date.now() + 30_000
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`the shards never settled on ${addresses}: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  return last as { cluster: { telegramPoller: string | null; thisRunner: string; runners: Array<ApiRunner> } }
}

/** How many times each expected reply was sent to Telegram. */
const replyCounts = (telegram: FakeTelegramServer, texts: ReadonlyArray<string>) => {
  const counts = new Map(texts.map((t) => [`echo: ${t}`, 0]))
  for (const m of telegram.sent) {
    const n = counts.get(m.visibleText)
    if (n !== undefined) counts.set(m.visibleText, n + 1)
  }
  return counts
}

/**
 * Waits until every text is answered, then checks that each was answered once. With `killedAt`
 * (a kill -9), a reply may come twice only if Telegram had accepted it from the killed runner
 * before the kill and the runner died before recording that (Telegram cannot be asked what was
 * sent, so the next runner sends it again rather than risk losing it): the first copy before the
 * kill, the second after, never more.
 */
/** How long after a kill -9 a request the killed runner had already sent may still arrive. */
const inFlightMargin = 500

const answeredOnce = async (
  { dbUrl, telegram }: Pick<Cluster, "dbUrl" | "telegram">,
  texts: ReadonlyArray<string>,
  timeoutMs: number,
  killedAt?: number
) => {
  await telegram.waitFor(() => [...replyCounts(telegram, texts).values()].every((n) => n >= 1), timeoutMs)
    .catch(async (e: unknown) => {
      const missing = [...replyCounts(telegram, texts)].filter(([, n]) => n === 0).map(([t]) => t)
      // What the mailbox and the ledger hold for the first unanswered chat says where it stopped.
      const chat = /chat (\d+)/.exec(missing[0] ?? "")?.[1]
      const sentThere = telegram.sent.filter((m) => String(m.chat_id) === chat).map((m) => m.visibleText)
      const state = chat === undefined
        ? ""
        : `; sent to chat ${chat}: ${JSON.stringify(sentThere)}; its mailbox and turns: ${await mailboxStateOf(
          dbUrl,
          chat
        )}`
      throw new Error(
        `${missing.length} of ${texts.length} messages unanswered (${missing.slice(0, 5).join("; ")})${state}`,
        { cause: e }
      )
    })
  const doubled = [...replyCounts(telegram, texts)].filter(([, n]) => n > 1).map(([text]) => text)
  const cutByTheKill = (text: string) => {
    const copies = telegram.sent.filter((m) => m.visibleText === text)
    // The killed runner's copy may reach the fake a moment after the kill (a request already on
    // its way); the other runner sends its copy only once it holds the shard, seconds later.
    return killedAt !== undefined && copies.length === 2 && copies[0]!.at < killedAt + inFlightMargin &&
      copies[1]!.at > killedAt + inFlightMargin
  }
  if (doubled.length > 0) console.log(`sent twice: ${doubled.join("; ")}`)
  expect(doubled.filter((text) => !cutByTheKill(text))).toEqual([])
  expect(telegram.sent).toHaveLength(texts.length + doubled.length)
}

/** Pushes a round every `everyMs` until `until` resolves, then two more rounds; returns all texts. */
const keepWriting = async (
  push: (round: number) => Array<string>,
  firstRound: number,
  everyMs: number,
  until: Promise<unknown>
) => {
  const texts: Array<string> = []
  let done = false
  void until.finally(() => (done = true))
  let round = firstRound
  while (!done) {
    texts.push(...push(round++))
    await new Promise((r) => setTimeout(r, everyMs))
  }
  for (const extra of [0, 1]) {
    texts.push(...push(round++))
    await new Promise((r) => setTimeout(r, everyMs + extra))
  }
  return texts
}

describe("runners on one Postgres (process)", () => {
  it(
    "kill -9 of the runner that polls Telegram mid-load: another polls within 10 s, no message lost, none answered twice but one the kill cut",
    async () => {
      const cluster = await startCluster()
      const { push, runners, telegram } = cluster
      const before = push(0)
      await answeredOnce(cluster, before, 60_000)
      const poller = await pollerOf(runners)
      expect((await apiStatus(runners[0]!)).cluster.telegramPoller).toBe(poller.address)

      let killedAt = 0
      const failover = (async () => {
        await new Promise((r) => setTimeout(r, 300))
        killedAt = Date.now()
        poller.child.kill("SIGKILL")
        await poller.exited
        await pollerOf(runners, poller)
      })()
      const during = await keepWriting(push, 1, 1000, failover)

      // The first getUpdates after the kill comes from the runner that took polling over.
      const resumed = await pollAfter(telegram, killedAt)
      const failoverMs = resumed.at - killedAt
      console.log(`failover: getUpdates again ${failoverMs} ms after kill -9 of the poller`)
      expect(failoverMs).toBeLessThan(10_000)

      await answeredOnce(cluster, [...before, ...during], 40_000, killedAt)

      // The survivors hold every shard between them; the dead runner is listed as gone.
      const survivors = runners.filter((r) => r !== poller)
      const newPoller = await pollerOf(runners, poller)
      const api = await settled(survivors[1]!, survivors)
      expect(api.cluster).toMatchObject({
        backend: "postgres",
        thisRunner: survivors[1]!.address,
        telegramPoller: newPoller.address
      })
      expect(api.cluster.runners.find((r) => r.address === poller.address)).toMatchObject({ alive: false, shards: [] })
      const status = await statusOf(survivors[0]!)
      expect(status).toContain("Runners on Postgres: 2 alive")
      for (const r of survivors) expect(status).toMatch(new RegExp(`^  ${r.address}  alive .* \\d+ shards \\(`, "m"))
      expect(status).toMatch(new RegExp(`^  ${poller.address}  gone .* no shards$`, "m"))
      expect(status).toContain(`Telegram is polled by ${newPoller.address}.`)
    },
    150_000
  )

  it(
    "SIGTERM of the runner that polls Telegram mid-load: its conversations and polling are handed over, every message answered once",
    async () => {
      const cluster = await startCluster()
      const { push, runners } = cluster
      const before = push(0)
      await answeredOnce(cluster, before, 60_000)
      const poller = await pollerOf(runners)

      const handover = (async () => {
        await new Promise((r) => setTimeout(r, 300))
        poller.child.kill("SIGTERM")
        expect((await poller.exited).code).toBe(0)
        await pollerOf(runners, poller)
      })()
      const during = await keepWriting(push, 1, 1000, handover)
      await answeredOnce(cluster, [...before, ...during], 40_000)

      // A runner that stopped cleanly leaves the list at once.
      const survivors = runners.filter((r) => r !== poller)
      const api = await settled(survivors[0]!, survivors)
      expect(api.cluster.runners.map((r) => r.address)).not.toContain(poller.address)
    },
    150_000
  )

  it(
    "a message for a conversation another runner owns reaches that runner directly: answered once, by it, though mailboxes are read only once a minute; kill -9 of the poller still fails over within 10 s",
    async () => {
      // Without the runners' socket transport the other runner would find these messages at its
      // next read of the mailboxes, a minute after it started: later than the wait below.
      const cluster = await startCluster(2, "", "[scheduler]\npoll_interval_ms = 60000")
      const { push, runners, telegram } = cluster
      await settled(runners[0]!, runners)
      const poller = await pollerOf(runners)
      const other = runners.find((r) => r !== poller)!
      const before = push(0)
      await answeredOnce(cluster, before, 30_000)

      // Each chat answered by one runner, and the runner that does not poll answered its own share.
      const answeredBy = (r: Runner) =>
        new Set([...r.stderr.matchAll(/^.*reply delivered.*$/gm)].map((m) => /chat_id=(\d+)/.exec(m[0])?.[1]))
      // A runner logs the reply once Telegram took it and the turn's record is written.
      await Effect.runPromise(eventually(
        () => answeredBy(other).size + answeredBy(poller).size >= chats.length,
        "a \"reply delivered\" line for every chat",
        10_000
      ))
      const byOther = answeredBy(other)
      const byPoller = answeredBy(poller)
      expect(byOther.size).toBeGreaterThan(0)
      expect(byPoller.size).toBeGreaterThan(0)
      expect([...byOther].filter((chat) => byPoller.has(chat))).toEqual([])
      expect(byOther.size + byPoller.size).toBe(chats.length)

      const killedAt = Date.now()
      poller.child.kill("SIGKILL")
      await poller.exited
      const during = push(1)
      await pollerOf(runners, poller)
      const resumed = await pollAfter(telegram, killedAt)
      console.log(`failover: getUpdates again ${resumed.at - killedAt} ms after kill -9 of the poller`)
      expect(resumed.at - killedAt).toBeLessThan(10_000)
      const after = push(2)
      await answeredOnce(cluster, [...before, ...during, ...after], 40_000, killedAt)
    },
    120_000
  )

  it("a runner whose runner_address cannot be listened on stops at start, naming the key", async () => {
    const db = await database()
    const telegram = adopt(await startFakeTelegram({ floodLimits: false }))
    const llm = adopt(await startFakeLlm())
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve))
    onCleanup(() => new Promise<void>((resolve) => taken.close(() => resolve())))
    const address = `127.0.0.1:${(taken.address() as net.AddressInfo).port}`
    const dir = tempDir()
    const configFile = runnerConfig(dir, telegram, llm, db.url, address, await freePort(), "", "")
    const runner = launch(["run", "--config", configFile], { cwd: dir })
    expect((await runner.exited).code).toBe(8)
    expect(runner.stderr).toContain(`minibot: the runner cannot listen on ${address} (cluster.runner_address)`)
    expect(runner.stderr).toContain("already in use")
  }, 60_000)

  it("in webhook mode any runner takes updates: the same update posted to two runners is answered once", async () => {
    const secret = "webhook-secret-for-runners"
    const { runners, telegram } = await startCluster(
      2,
      `mode = "webhook"\nwebhook_url = "https://bot.example.com/telegram/hook"\nwebhook_secret = "${secret}"`
    )
    const post = (runner: Runner, updateId: number, text: string) =>
      postToWebhook(runner.httpPort, secret, updateId, text)

    // A load balancer may send Telegram's retry to another runner, even while the first still works on it.
    expect(await Promise.all(runners.map((r) => post(r, 700, "hello from the balancer")))).toEqual([200, 200])
    expect(await Promise.all(runners.map((r) => post(r, 701, "/help")))).toEqual([200, 200])
    await telegram.waitForSent(2, 15_000)
    // A second answer to either would come before the answer to the next message.
    expect(await post(runners[1]!, 702, "and then?")).toBe(200)
    await telegram.waitFor((f) => f.sent.some((m) => m.visibleText === "echo: and then?"), 15_000)
    const texts = telegram.sent.map((m) => m.visibleText)
    expect(texts.filter((t) => t === "echo: hello from the balancer")).toHaveLength(1)
    expect(texts.filter((t) => /\/reset/.test(t))).toHaveLength(1)
    expect(texts).toHaveLength(3)
    expect(telegram.callsOf("getUpdates")).toHaveLength(0)
  }, 60_000)
})
