/**
 * Two `minibot run` processes on one Postgres and one (fake) Telegram, the operator behind a load
 * balancer: a pause or resume asked of the runner that does not poll reaches the one that does
 * (long polling) and every runner's webhook route (webhook mode), without a restart.
 */
import { describe, expect, it } from "@effect/vitest"
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
import { databaseDroppedBy } from "../support/Postgres.ts"

const { adopt, launch, onCleanup } = processScope()
requireBuilt("through another runner", "channel pauses shared between runners")

const secret = "webhook-secret-for-pauses"

interface Runner extends MinibotProcess {
  readonly address: string
  /** The `[http]` port (the API on loopback, no token). */
  readonly httpPort: number
}

const database = databaseDroppedBy(onCleanup)

const config = (
  dir: string,
  telegram: FakeTelegramServer,
  llm: FakeLlmServer,
  dbUrl: string,
  address: string,
  httpPort: number,
  telegramKeys: string
) =>
  telegramDaemonConfig(
    dir,
    telegram,
    llm,
    `allowed_user_ids = [1001]\n${telegramKeys}\n${runnerKeys(dbUrl, address, httpPort)}`
  )

const startRunners = async (telegramKeys = "") => {
  const db = await database()
  const telegram = adopt(await startFakeTelegram({ floodLimits: false }))
  const llm = adopt(await startFakeLlm())
  llm.script((request) => ({ content: `echo: ${lastUserContent(request)}` }))
  const runners = await Promise.all([1, 2].map(async (): Promise<Runner> => {
    const dir = tempDir()
    const address = `127.0.0.1:${await freePort()}`
    const httpPort = await freePort()
    const file = config(dir, telegram, llm, db.url, address, httpPort, telegramKeys)
    return Object.assign(launch(["run", "--config", file], { cwd: dir }), { address, httpPort })
  }))
  await Promise.all(runners.map((r) => r.waitForStderr(/minibot started/, 30_000)))
  return { telegram, runners }
}

const api = (runner: Runner, method: string, path: string) =>
  fetch(`http://127.0.0.1:${runner.httpPort}${path}`, { method }).then(async (r) => ({
    status: r.status,
    body: await r.json()
  }))

const telegramOf = async (runner: Runner) => (await api(runner, "GET", "/api/status")).body.channels.telegram

/** Asks `condition` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
const until = async (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const polls = (r: Runner) =>
  r.stderr.lastIndexOf("long polling started") > r.stderr.lastIndexOf("telegram-poller stopped")

/**
 * The runner that polls once the shards are spread over both (polling may move to the second
 * runner when it joins): the one `GET /api/status` names, which says so in its log.
 */
const settledPoller = async (runners: ReadonlyArray<Runner>) => {
  let poller: Runner | undefined
  await until(
    async () => {
      const { cluster } = (await api(runners[0]!, "GET", "/api/status")).body
      const holding = cluster.runners.filter((r: { shards: Array<number> }) => r.shards.length > 0)
      poller = runners.find((r) => r.address === cluster.telegramPoller)
      return holding.length === 2 && poller !== undefined && polls(poller) && runners.filter(polls).length === 1
    },
    "both runners holding shards, one of them polling",
    30_000
  )
  return poller!
}

const echoes = (telegram: FakeTelegramServer, text: string) =>
  telegram.sent.filter((m) => m.visibleText === `echo: ${text}`).length

describe("channel pauses shared by runners on Postgres (process)", () => {
  it("paused and resumed through the runner that does not poll: the poller stops, then answers once", async () => {
    const { runners, telegram } = await startRunners()
    const poller = await settledPoller(runners)
    const other = runners.find((r) => r !== poller)!

    telegram.pushText({ chatId: 1001, userId: 1001, text: "before" })
    await telegram.waitFor(() => echoes(telegram, "before") === 1, 20_000)

    const logged = poller.stderr.length
    const paused = await api(other, "POST", "/api/channels/telegram/pause")
    expect(paused).toEqual({ status: 200, body: { channel: "telegram", state: "paused" } })
    await until(() => poller.stderr.includes("long polling paused", logged), "the poller to stop polling")
    expect(poller.stderr).toContain("channel paused by the operator through another runner")
    expect((await telegramOf(poller)).state).toBe("paused")
    // Asked again, of either runner: it is paused already.
    expect((await api(poller, "POST", "/api/channels/telegram/pause")).status).toBe(409)

    const pollsWhenPaused = telegram.callsOf("getUpdates").length
    const waiting = telegram.pushText({ chatId: 1001, userId: 1001, text: "while paused" })
    // Long enough for a poller that ignored the pause to fetch, answer and confirm it.
    await new Promise((r) => setTimeout(r, 4_000))
    expect(telegram.callsOf("getUpdates").length).toBe(pollsWhenPaused)
    expect(telegram.pendingUpdates.map((u) => u.update_id)).toEqual([waiting.update_id])
    expect(echoes(telegram, "while paused")).toBe(0)

    const resumed = await api(other, "POST", "/api/channels/telegram/resume")
    expect(resumed).toEqual({ status: 200, body: { channel: "telegram", state: "running" } })
    await telegram.waitFor(() => echoes(telegram, "while paused") === 1, 20_000)
    expect(poller.stderr).toContain("channel resumed by the operator through another runner")
    // A second answer to the waiting message would come before the answer to the next one.
    telegram.pushText({ chatId: 1001, userId: 1001, text: "after" })
    await telegram.waitFor(() => echoes(telegram, "after") === 1, 20_000)
    expect(telegram.sent.map((m) => m.visibleText)).toEqual(["echo: before", "echo: while paused", "echo: after"])
    expect((await telegramOf(poller)).state).toBe("running")
    expect(polls(poller)).toBe(true)
  }, 120_000)

  it("webhook mode: paused through one runner, every runner's webhook answers 503 until resumed", async () => {
    const { runners, telegram } = await startRunners(
      `mode = "webhook"\nwebhook_url = "https://bot.example.com/telegram/hook"\nwebhook_secret = "${secret}"`
    )
    const [first, second] = [runners[0]!, runners[1]!]
    const post = (runner: Runner, updateId: number, text: string) =>
      postToWebhook(runner.httpPort, secret, updateId, text)

    expect(await telegramOf(second)).toMatchObject({ lastPollAgeSeconds: null, lastWebhookUpdateAgeSeconds: null })
    expect(await post(second, 800, "hello")).toBe(200)
    await telegram.waitFor(() => echoes(telegram, "hello") === 1, 20_000)
    // The age of the last update is this runner's: the other one has not had any.
    const took = await telegramOf(second)
    expect(took.lastPollAgeSeconds).toBe(null)
    expect(took.lastWebhookUpdateAgeSeconds).toBeGreaterThanOrEqual(0)
    expect((await telegramOf(first)).lastWebhookUpdateAgeSeconds).toBe(null)

    expect((await api(first, "POST", "/api/channels/telegram/pause")).status).toBe(200)
    await until(async () => (await telegramOf(second)).state === "paused", "the other runner to see the pause")
    expect(await post(second, 801, "while paused")).toBe(503)
    expect(await post(first, 801, "while paused")).toBe(503)

    expect((await api(second, "POST", "/api/channels/telegram/resume")).status).toBe(200)
    await until(async () => (await telegramOf(first)).state === "running", "the other runner to see the resume")
    // Telegram sends the refused update again; it is answered once.
    expect(await post(first, 801, "while paused")).toBe(200)
    await telegram.waitFor(() => echoes(telegram, "while paused") === 1, 20_000)
    expect(await post(second, 802, "after")).toBe(200)
    await telegram.waitFor(() => echoes(telegram, "after") === 1, 20_000)
    expect(telegram.sent.map((m) => m.visibleText)).toEqual(["echo: hello", "echo: while paused", "echo: after"])
  }, 120_000)
})
