/**
 * Three `minibot run` processes on one Postgres and one (fake) Telegram, 50 chats writing all the
 * while: the runner that polls Telegram is killed (-9) or stopped (SIGTERM) in the middle, and
 * every message must still be answered exactly once, by whichever runner owns its chat by then.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { type MinibotProcess, processScope, requireBuilt, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"
import { freshDatabase } from "../support/Postgres.ts"
import { eventually } from "../support/Wait.ts"

const { adopt, launch, onCleanup } = processScope()
requireBuilt("telegram-poller", "Telegram channel")

const chats = Array.from({ length: 50 }, (_, i) => 1001 + i)
/** The LLM takes this long, so that turns are running when a runner goes away. */
const llmDelayMs = 150

/** A database of its own, dropped after the test. */
const database = async () => {
  const scope = Effect.runSync(Scope.make())
  onCleanup(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return Effect.runPromise(Scope.extend(freshDatabase, scope))
}

interface Cluster {
  readonly telegram: FakeTelegramServer
  readonly llm: FakeLlmServer
  readonly runners: ReadonlyArray<MinibotProcess>
  /** Round 0: one message from every chat; later rounds: from every other chat, by turns. */
  readonly push: (round: number) => Array<string>
}

const runnerConfig = (dir: string, telegram: FakeTelegramServer, llm: FakeLlmServer, dbUrl: string) =>
  writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
log_level = "info"
[llm]
base_url = "${llm.url}"
model = "fake-model"
[channels.telegram]
enabled = true
bot_token = "${telegram.token}"
api_root = "${telegram.url}"
poll_timeout_seconds = 5
allowed_user_ids = [${chats.join(", ")}]
[storage]
backend = "postgres"
postgres_url = "${dbUrl}"
`
  )

const startCluster = async (): Promise<Cluster> => {
  const db = await database()
  const telegram = adopt(await startFakeTelegram({ floodLimits: false }))
  const llm = adopt(await startFakeLlm())
  llm.script((request) => ({ content: `echo: ${lastUserContent(request)}`, delayMs: llmDelayMs }))
  const runners = [0, 1, 2].map(() => {
    const dir = tempDir()
    return launch(["run", "--config", runnerConfig(dir, telegram, llm, db.url)], { cwd: dir })
  })
  await Promise.all(runners.map((r) => r.waitForStderr(/minibot started/, 30_000)))
  const push = (round: number) =>
    chats.filter((_, i) => round === 0 || i % 2 === round % 2).map((chat) => {
      const text = `chat ${chat} message ${round}`
      telegram.pushText({ chatId: chat, userId: chat, text })
      return text
    })
  return { telegram, llm, runners, push }
}

const polls = (r: MinibotProcess) =>
  r.child.exitCode === null && r.child.signalCode === null &&
  r.stderr.lastIndexOf("long polling started") > r.stderr.lastIndexOf("telegram-poller stopped")

/** The one runner that says it polls Telegram now (once one does). */
const pollerOf = async (runners: ReadonlyArray<MinibotProcess>, except?: MinibotProcess) => {
  const candidates = runners.filter((r) => r !== except)
  await Effect.runPromise(
    eventually(() => candidates.filter(polls).length > 0, "a runner that says it polls Telegram", 30_000)
  )
  const polling = candidates.filter(polls)
  expect(polling).toHaveLength(1)
  return polling[0]!
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

const answeredOnce = async (telegram: FakeTelegramServer, texts: ReadonlyArray<string>, timeoutMs: number) => {
  await telegram.waitFor(() => [...replyCounts(telegram, texts).values()].every((n) => n >= 1), timeoutMs)
    .catch((e: unknown) => {
      const missing = [...replyCounts(telegram, texts)].filter(([, n]) => n === 0).map(([t]) => t)
      throw new Error(`${missing.length} of ${texts.length} messages unanswered (${missing.slice(0, 5).join("; ")})`, {
        cause: e
      })
    })
  const counts = replyCounts(telegram, texts)
  const doubled = [...counts].filter(([, n]) => n > 1)
  expect(doubled).toEqual([])
  expect(telegram.sent).toHaveLength(texts.length)
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

describe("three runners on one Postgres (process)", () => {
  it(
    "kill -9 of the runner that polls Telegram mid-load: another polls within 10 s, every message answered once",
    async () => {
      const { push, runners, telegram } = await startCluster()
      const before = push(0)
      await answeredOnce(telegram, before, 30_000)
      const poller = await pollerOf(runners)

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
      const resumed = telegram.callsOf("getUpdates").find((c) => c.at > killedAt)!
      const failoverMs = resumed.at - killedAt
      console.log(`failover: getUpdates again ${failoverMs} ms after kill -9 of the poller`)
      expect(failoverMs).toBeLessThan(10_000)

      await answeredOnce(telegram, [...before, ...during], 40_000)
    },
    60_000
  )

  it(
    "SIGTERM of the runner that polls Telegram mid-load: its conversations and polling are handed over, every message answered once",
    async () => {
      const { push, runners, telegram } = await startCluster()
      const before = push(0)
      await answeredOnce(telegram, before, 30_000)
      const poller = await pollerOf(runners)

      const handover = (async () => {
        await new Promise((r) => setTimeout(r, 300))
        poller.child.kill("SIGTERM")
        expect((await poller.exited).code).toBe(0)
        await pollerOf(runners, poller)
      })()
      const during = await keepWriting(push, 1, 1000, handover)
      await answeredOnce(telegram, [...before, ...during], 40_000)
    },
    60_000
  )
})
