/**
 * The API's exposure rules in the real process (`dist/main.js`): without a token it may not be
 * reachable from other machines, and the token may come from the environment. Clients still
 * reading the event stream do not hold up a stop.
 */
import { describe, expect, it } from "@effect/vitest"
import { freePort, processScope, writeConfig } from "../support/Daemon.ts"
import { tempDir } from "../support/Harness.ts"

const { launch } = processScope()

const start = (dir: string, http: string, env?: Record<string, string>) => {
  const config = writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "http://127.0.0.1:9/v1"
api_key = "sk-unused"
[channels.console]
enabled = true
[http]
enabled = true
${http}
`
  )
  return launch(["run", "--config", config], { cwd: dir, ...(env ? { env } : {}) })
}

describe("minibot run with the HTTP API", () => {
  it("a non-loopback host without api_token is a configuration error naming http.api_token (exit 2)", async () => {
    const dir = tempDir()
    const port = await freePort()
    const p = start(dir, `host = "0.0.0.0"\nport = ${port}`)
    expect(await p.exited).toEqual({ code: 2, signal: null })
    expect(p.stderr).toContain("http.api_token")
  })

  it("with api = false the same host starts; the token can come from the environment", async () => {
    const open = start(tempDir(), `host = "0.0.0.0"\nport = ${await freePort()}\napi = false`)
    await open.waitForStderr(/minibot started/)
    open.child.kill("SIGTERM")
    expect((await open.exited).code).toBe(0)

    const port = await freePort()
    const p = start(tempDir(), `port = ${port}\napi_token = "\${MINIBOT_API_TOKEN}"`, {
      MINIBOT_API_TOKEN: "token-from-env-42"
    })
    await p.waitForStderr(/minibot started/)
    const status = (token: string) =>
      fetch(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: `Bearer ${token}` } }).then((r) =>
        r.status
      )
    expect(await status("wrong")).toBe(401)
    expect(await status("token-from-env-42")).toBe(200)
    expect(p.stderr + p.stdout).not.toContain("token-from-env-42")
    p.child.kill("SIGTERM")
    expect((await p.exited).code).toBe(0)
  })

  it("SIGTERM while clients read /api/events: their streams end and the daemon exits 0 in time", async () => {
    const port = await freePort()
    const p = start(tempDir(), `port = ${port}`)
    await p.waitForStderr(/minibot started/)
    const readers = await Promise.all(
      Array.from({ length: 3 }, () => fetch(`http://127.0.0.1:${port}/api/events`))
    )
    expect(readers.map((r) => r.status)).toEqual([200, 200, 200])
    // Each reader reads until its stream ends (or fails, the connection closed under it).
    const ended = readers.map(async (r) => {
      const reader = r.body!.getReader()
      try {
        while (!(await reader.read()).done);
      } catch {
        // closed by the server mid-read: ended all the same
      }
      return "ended"
    })
    p.child.kill("SIGTERM")
    // shutdown_timeout_seconds is 8: a stop held up by the streams would be killed past it.
    expect(await p.exited).toEqual({ code: 0, signal: null })
    expect(await Promise.all(ended)).toEqual(["ended", "ended", "ended"])
  })
})
