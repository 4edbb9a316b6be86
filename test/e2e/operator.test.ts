/**
 * What an operator sees of the process: the start-up and stop lines, `/metrics` of a running
 * daemon, `check-config` agreeing with `run`, and errors that reach a pipe whole.
 */
import { describe, expect, it } from "@effect/vitest"
import { createRequire } from "node:module"
import { freePort, processScope, writeConfig } from "../support/Daemon.ts"
import { tempDir } from "../support/Harness.ts"

const logfmt = createRequire(import.meta.url)("logfmt") as { parse(line: string): Record<string, string> }

const { launch } = processScope()

const start = (args: ReadonlyArray<string>, cwd: string, env?: Record<string, string>) =>
  launch(args, { cwd, ...(env ? { env } : {}) })

const lineWith = (stderr: string, message: string) =>
  stderr.split("\n").filter((l) => l.length > 0).map((l) => logfmt.parse(l)).find((f) => f.message === message)

describe("the operator's view", () => {
  it("one start-up line says what runs; one line says why it stopped; /metrics is complete at once", async () => {
    const dir = tempDir()
    const port = await freePort()
    const config = writeConfig(
      dir,
      `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "http://127.0.0.1:9/v1"
model = "local-model"
[channels.console]
enabled = true
`
    )
    // The [http] server comes from the environment, which overrides the file.
    const p = start(["run", "--config", config], dir, {
      MINIBOT_HTTP_ENABLED: "true",
      MINIBOT_HTTP_PORT: String(port)
    })
    await p.waitForStderr(/minibot started/)
    expect(lineWith(p.stderr, "minibot started")).toMatchObject({
      level: "INFO",
      version: "0.1.0",
      config,
      env: "MINIBOT_HTTP_ENABLED,MINIBOT_HTTP_PORT",
      data_dir: `${dir}/data`,
      channels: "console",
      model: "local-model",
      llm_host: "127.0.0.1:9"
    })

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toMatch(/^minibot_turn_failures_total 0$/m)
    expect(metrics).toMatch(/^minibot_llm_failures_total 0$/m)
    expect(metrics).toMatch(/^minibot_build_info\{version="0\.1\.0",node="v[\d.]+"\} 1$/m)
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+$/m)
    expect(metrics).toMatch(/^nodejs_eventloop_lag_seconds \S+$/m)
    expect(metrics).not.toContain("effect_fiber_")

    p.child.kill("SIGTERM")
    expect((await p.exited).code).toBe(0)
    await p.waitForStderr(/minibot stopped/)
    expect(lineWith(p.stderr, "minibot stopped")).toMatchObject({ level: "INFO", reason: "SIGTERM" })
    expect(p.stderr).not.toMatch(/fiber=#\d+/)
    expect(p.stderr).not.toMatch(/timestamp=\d+ /)
    expect(p.stderr).not.toContain("@effect/cluster")
  })

  it("check-config refuses what run refuses, with the same message and exit code", async () => {
    const dir = tempDir()
    const noChannel = writeConfig(dir, `[llm]\nbase_url = "http://127.0.0.1:9/v1"\n`)
    const check = start(["check-config", "--config", noChannel], dir)
    const run = start(["run", "--config", noChannel], dir)
    expect((await check.exited).code).toBe(2)
    expect((await run.exited).code).toBe(2)
    // Output can reach the parent after the exit event.
    await check.waitForStderr(/without any channel\n/)
    await run.waitForStderr(/without any channel\n/)
    expect(check.stderr).toContain("no channel is enabled")
    expect(check.stderr).toBe(run.stderr)
    expect(check.stdout).not.toContain("configuration OK")

    const misspelt = writeConfig(dir, `[channel.telegram]\nenabled = true\nbot_token = "1:x"\n`)
    const typo = start(["check-config", "--config", misspelt], dir)
    expect((await typo.exited).code).toBe(2)
    await typo.waitForStderr(/channel: unknown section; did you mean "channels"\?/)
  })

  it("a long error reaches a pipe whole before the process exits", async () => {
    const dir = tempDir()
    const keys = Array.from({ length: 3000 }, (_, i) => `unknown_key_${String(i).padStart(5, "0")} = 1`)
    const config = writeConfig(dir, `[llm]\n${keys.join("\n")}\n`)
    const p = start(["check-config", "--config", config], dir)
    expect((await p.exited).code).toBe(2)
    await p.waitForStderr(/llm\.unknown_key_02999: unknown key/, 5_000)
    expect(p.stderr.length).toBeGreaterThan(200_000)
  })
})
