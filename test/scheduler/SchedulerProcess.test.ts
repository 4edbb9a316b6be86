/** Durability of firings, with the daemon as a real process: kill -9 mid-firing, and downtime. */
import { describe, expect, it } from "@effect/vitest"
import { type MinibotProcess, processScope, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, type FakeReply, lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { tempDir } from "../support/Harness.ts"

const { adopt, launch } = processScope()

const start = (config: string, cwd: string) => launch(["run", "--config", config], { cwd })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const daemonConfig = (dir: string, fake: FakeLlmServer, scheduler = "") =>
  writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${fake.url}"
model = "fake-model"
retry_attempts = 0
[channels.console]
enabled = true
[scheduler]
min_interval_seconds = 1
${scheduler}`
  )

const scheduled = (fake: FakeLlmServer, prompt: string) =>
  fake.completions().filter((r) =>
    lastUserContent(r.body).startsWith("Scheduled instruction") && lastUserContent(r.body).includes(prompt)
  )

/**
 * A one-shot a second from now in the same chat: once its answer is out, the firings due before
 * it have run, so whatever did not happen by then will not happen.
 */
const markerPrompt = "marker"
const waitForMarker = async (p: MinibotProcess) => {
  p.send(`schedule {"prompt":"${markerPrompt}","delay_seconds":1}`)
  await p.waitForStdout(/MARKER/)
}

/** The model schedules what the console line asks (`schedule <json>`), then confirms. */
const scriptScheduling = (fake: FakeLlmServer, onScheduled: (prompt: string) => FakeReply) =>
  fake.script((request) => {
    const last = lastUserContent(request)
    if (last.startsWith("Scheduled instruction")) {
      return last.includes(markerPrompt)
        ? { content: "MARKER" }
        : onScheduled(last)
    }
    if (request.messages.at(-1)?.role === "tool") return { content: "scheduled" }
    return { toolCalls: [{ name: "schedule_prompt", arguments: last.replace(/^schedule /, "") }] }
  })

describe("scheduled jobs across crashes and restarts", () => {
  it("kill -9 while a job is firing, then a restart: it fires exactly once", async () => {
    const dir = tempDir()
    const fake = adopt(await startFakeLlm())
    scriptScheduling(fake, () => (scheduled(fake, "ping").length === 1 ? { hang: true } : { content: "PONG" }))
    const config = daemonConfig(dir, fake)
    const first = start(config, dir)
    await first.waitForStderr(/minibot started/)
    first.send(`schedule {"prompt":"ping","delay_seconds":1}`)
    await first.waitForStdout(/scheduled/)
    await fake.waitFor(() => scheduled(fake, "ping").length === 1, 5_000)
    first.child.kill("SIGKILL")
    await first.exited

    const second = start(config, dir)
    await second.waitForStdout(/PONG/)
    await waitForMarker(second)
    second.child.kill("SIGTERM")
    await second.exited
    expect(second.stdout.match(/PONG/g)).toHaveLength(1)
    // The interrupted attempt and its redelivery: two requests, one answer.
    expect(scheduled(fake, "ping")).toHaveLength(2)
  }, 30_000)

  it("kill -9 during a retry, then a restart: the retry runs again and the job completes once", async () => {
    const dir = tempDir()
    const fake = adopt(await startFakeLlm())
    scriptScheduling(fake, () => {
      const n = scheduled(fake, "flaky").length
      return n === 1 ? { status: 500 } : n === 2 ? { hang: true } : { content: "RECOVERED" }
    })
    const config = daemonConfig(dir, fake, "retry_backoff_ms = 100\n")
    const first = start(config, dir)
    await first.waitForStderr(/minibot started/)
    first.send(`schedule {"prompt":"flaky","delay_seconds":1}`)
    await fake.waitFor(() => scheduled(fake, "flaky").length === 2, 8_000)
    first.child.kill("SIGKILL")
    await first.exited

    const second = start(config, dir)
    await second.waitForStdout(/RECOVERED/)
    await waitForMarker(second)
    second.child.kill("SIGTERM")
    await second.exited
    expect(second.stdout.match(/RECOVERED/g)).toHaveLength(1)
    expect(first.stdout + second.stdout).not.toMatch(/could not run/)
    expect(scheduled(fake, "flaky")).toHaveLength(3)
  }, 30_000)

  it(
    "jobs due while the daemon was down: a one-shot fires once, late; a recurring one once, not once per missed slot",
    async () => {
      const dir = tempDir()
      const fake = adopt(await startFakeLlm())
      scriptScheduling(fake, (last) => ({ content: last.includes("one-shot") ? "ONE-SHOT" : "TICK" }))
      const config = daemonConfig(dir, fake)
      const first = start(config, dir)
      await first.waitForStderr(/minibot started/)
      first.send(`schedule {"prompt":"one-shot","delay_seconds":1}`)
      first.send(`schedule {"prompt":"tick","interval_seconds":1}`)
      await first.waitForStdout(/scheduled\n(.|\n)*scheduled/)
      first.child.kill("SIGTERM")
      await first.exited
      const stoppedAt = Date.now()
      expect(first.stdout).not.toMatch(/ONE-SHOT|TICK/)

      await sleep(6000) // five or six slots of the interval job go by
      const second = start(config, dir)
      await second.waitForStdout(/ONE-SHOT/)
      // The catch-up tick, then two on the grid.
      await fake.waitFor(() => scheduled(fake, "tick").length >= 3, 10_000)
      second.child.kill("SIGTERM")
      await second.exited
      expect(second.stdout.match(/ONE-SHOT/g)).toHaveLength(1)
      const ticks = scheduled(fake, "tick").length
      expect(ticks).toBeGreaterThanOrEqual(2)
      expect(ticks).toBeLessThanOrEqual(4)
      // Caught up once (late), then back on its one-second grid (on time): the missed slots are not replayed.
      const late = scheduled(fake, "tick").filter((r) => /seconds late\)/.test(lastUserContent(r.body)))
      expect(late).toHaveLength(1)
      expect(scheduled(fake, "tick")[0]).toBe(late[0])
      // The model is told the one-shot is late.
      expect(lastUserContent(scheduled(fake, "one-shot")[0]!.body)).toMatch(/, \d+ seconds late\): one-shot/)
      expect(scheduled(fake, "one-shot")[0]!.receivedAt).toBeGreaterThan(stoppedAt + 6000)
    },
    40_000
  )
})
