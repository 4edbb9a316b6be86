import { describe, expect, it } from "@effect/vitest"
import { freePort, processScope, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, lastUserContent, startFakeLlm } from "../support/FakeLlm.ts"
import { tempDir } from "../support/Harness.ts"

const { adopt, launch } = processScope()

const start = (args: ReadonlyArray<string>, cwd: string) => launch(args, { cwd })

const fakeLlm = async () => adopt(await startFakeLlm())

const daemonConfig = (dir: string, fake: FakeLlmServer, extra = "") =>
  writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
log_level = "info"
[llm]
base_url = "${fake.url}"
api_key = "sk-e2e-secret-key-123"
model = "fake-model"
request_timeout_seconds = 30
[channels.console]
enabled = true
${extra}
`
  )

describe("minibot as a process", () => {
  it("console --once prints the answer; the same conversation remembers, another does not", async () => {
    const dir = tempDir()
    const fake = await fakeLlm()
    const config = daemonConfig(dir, fake)
    const first = start(["console", "--config", config, "--once", "my name is Ada"], dir)
    expect(await first.exited).toEqual({ code: 0, signal: null })
    expect(first.stdout).toBe("echo: my name is Ada\n")

    const second = start(["console", "--config", config, "--once", "who am I?"], dir)
    expect((await second.exited).code).toBe(0)
    expect(second.stdout).toBe("echo: who am I?\n")
    const other = start(["console", "--config", config, "--chat", "someone-else", "--once", "hello"], dir)
    expect((await other.exited).code).toBe(0)

    const [, withHistory, isolated] = fake.completions().map((r) => r.body.messages.map((m) => m.content))
    expect(withHistory).toEqual([expect.any(String), "my name is Ada", "echo: my name is Ada", "who am I?"])
    expect(isolated).toEqual([expect.any(String), "hello"])
    expect(first.stderr + second.stderr).not.toContain("sk-e2e-secret-key-123")
  })

  it("console reads piped lines one by one", async () => {
    const dir = tempDir()
    const fake = await fakeLlm()
    const p = start(["console", "--config", daemonConfig(dir, fake)], dir)
    p.send("one")
    p.send("")
    p.send("two")
    p.child.stdin!.end()
    expect((await p.exited).code).toBe(0)
    expect(p.stdout).toBe("echo: one\necho: two\n")
  })

  it("a kill -9 in the middle of a turn, then a restart: the message is answered exactly once", async () => {
    const dir = tempDir()
    const fake = await fakeLlm()
    fake.script((request) =>
      lastUserContent(request) === "slow question" && fake.completions().length === 1
        ? { hang: true }
        : { content: `answer to ${lastUserContent(request)}` }
    )
    const config = daemonConfig(dir, fake)
    const first = start(["run", "--config", config], dir)
    await first.waitForStderr(/minibot started/)
    first.send("slow question")
    await fake.waitFor((f) => f.completions().length === 1, 10_000)
    first.child.kill("SIGKILL")
    expect((await first.exited).signal).toBe("SIGKILL")
    expect(first.stdout).toBe("")

    const second = start(["run", "--config", config], dir)
    await second.waitForStdout(/answer to slow question/)
    // A duplicate would come before the answer to the next line.
    second.send("anything else?")
    await second.waitForStdout(/answer to anything else\?/)
    second.child.kill("SIGTERM")
    await second.exited
    expect(second.stdout).toBe("answer to slow question\nanswer to anything else?\n")
    expect(fake.completions().filter((r) => lastUserContent(r.body) === "slow question")).toHaveLength(2)
  })

  it("SIGTERM (then SIGINT) with a turn in flight exits 0 within 10 s, and the turn is answered after a restart", async () => {
    const dir = tempDir()
    const fake = await fakeLlm()
    fake.script((request) =>
      fake.completions().length === 1 ? { hang: true } : { content: `done: ${lastUserContent(request)}` }
    )
    const config = daemonConfig(dir, fake)
    const first = start(["run", "--config", config], dir)
    await first.waitForStderr(/minibot started/)
    first.send("in flight")
    await fake.waitFor((f) => f.completions().length === 1, 10_000)
    const t0 = Date.now()
    first.child.kill("SIGTERM")
    // A second signal (an impatient Ctrl-C) does not cut the shutdown short.
    await new Promise((r) => setTimeout(r, 200))
    first.child.kill("SIGINT")
    const exit = await first.exited
    expect(exit).toEqual({ code: 0, signal: null })
    expect(Date.now() - t0).toBeLessThan(10_000)
    // The interrupted request was really cancelled.
    await fake.waitFor((f) => f.completions()[0]!.aborted, 2_000)

    const second = start(["run", "--config", config], dir)
    await second.waitForStdout(/done: in flight/)
    second.child.kill("SIGTERM")
    expect((await second.exited).code).toBe(0)
  })

  it("serves /healthz, /readyz and /metrics whose counters move", async () => {
    const dir = tempDir()
    const fake = await fakeLlm()
    const port = await freePort()
    const p = start(["run", "--config", daemonConfig(dir, fake, `[http]\nenabled = true\nport = ${port}\n`)], dir)
    await p.waitForStderr(/minibot started/)
    const base = `http://127.0.0.1:${port}`
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    const ready = await fetch(`${base}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ ready: true, checks: { config: true, database: true, console: true } })

    const counter = (text: string, name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? 0)
    const before = await (await fetch(`${base}/metrics`)).text()
    p.send("count me")
    await p.waitForStdout(/echo: count me/)
    const after = await (await fetch(`${base}/metrics`)).text()
    for (
      const name of ["minibot_messages_received_total", "minibot_replies_sent_total", "minibot_llm_requests_total"]
    ) {
      expect(counter(after, name)).toBe(counter(before, name) + 1)
    }
    expect(after).toMatch(/^minibot_turn_duration_seconds_count 1$/m)
    expect(after).toMatch(/^minibot_llm_latency_seconds_bucket\{le="\+Inf"\} 1$/m)
    expect(after).toMatch(/^# TYPE minibot_bus_depth gauge$/m)
    p.child.kill("SIGTERM")
    expect((await p.exited).code).toBe(0)
  })

  it("a bad config exits 2 naming every wrong key, without a stack trace", async () => {
    const dir = tempDir()
    const config = writeConfig(dir, `[llm.context]\nhistory_window = "six"\n[runtime]\nlog_level = "loud"\n`)
    const p = start(["run", "--config", config], dir)
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toContain(`llm.context.history_window: expected number, got "six"`)
    expect(p.stderr).toContain("runtime.log_level:")
    expect(p.stderr).not.toMatch(/\n\s+at /)
  })

  it("with no config and no channel it exits 2 saying what to set; a missing --config file is an error", async () => {
    const dir = tempDir()
    const p = start(["run"], dir)
    expect((await p.exited).code).toBe(2)
    expect(p.stderr).toContain("TELEGRAM_BOT_TOKEN")
    const missing = start(["run", "--config", "nope.toml"], dir)
    expect((await missing.exited).code).toBe(2)
    expect(missing.stderr).toContain("config file not found (given by --config)")
  })

  it("a second process on the same data_dir refuses to start", async () => {
    const dir = tempDir()
    const fake = await fakeLlm()
    const config = daemonConfig(dir, fake)
    const first = start(["run", "--config", config], dir)
    await first.waitForStderr(/minibot started/)
    const second = start(["console", "--config", config, "--once", "hi"], dir)
    expect((await second.exited).code).toBe(4)
    expect(second.stderr).toContain(
      `minibot: another minibot process (pid ${first.child.pid}) is using data_dir ${dir}/data; stop it first`
    )
    first.child.kill("SIGTERM")
    expect((await first.exited).code).toBe(0)
  })
  it(
    "kill -9 then a restart within 50 ms, 20 times: it starts every time and answers the interrupted message once",
    async () => {
      const dir = tempDir()
      const fake = await fakeLlm()
      let crashing = true
      fake.script((request) =>
        crashing && lastUserContent(request) === "slow question"
          ? { hang: true }
          : { content: `answer to ${lastUserContent(request)}` }
      )
      const config = daemonConfig(dir, fake)
      let p = start(["run", "--config", config], dir)
      await p.waitForStderr(/minibot started/)
      p.send("slow question")
      await fake.waitFor((f) => f.completions().length === 1, 10_000)
      for (let restart = 1; restart <= 20; restart++) {
        const killed = p
        killed.child.kill("SIGKILL")
        // The next one starts before the killed one has even been reaped.
        p = start(["run", "--config", config], dir)
        await p.waitForStderr(/minibot started/, 20_000)
        expect((await killed.exited).signal).toBe("SIGKILL")
        expect(killed.stdout).toBe("")
      }
      crashing = false
      p.child.kill("SIGKILL")
      p = start(["run", "--config", config], dir)
      await p.waitForStdout(/answer to slow question/)
      // The conversation's mail is handled in order: once the next message is answered, a duplicate would be in.
      p.send("and then")
      await p.waitForStdout(/answer to and then/)
      p.child.kill("SIGTERM")
      expect((await p.exited).code).toBe(0)
      expect(p.stdout).toBe("answer to slow question\nanswer to and then\n")
    },
    180_000
  )
})
