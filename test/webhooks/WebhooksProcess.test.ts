/**
 * Outgoing webhooks in the real process (`dist/main.js`): an event stored while the receiver was
 * down survives kill -9, and a bad `[[webhooks]]` entry stops the start naming its key.
 */
import { describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import { freePort, processScope, requireBuilt, telegramDaemonConfig, writeConfig } from "../support/Daemon.ts"
import { startFakeLlm } from "../support/FakeLlm.ts"
import { startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"

const { adopt, launch, onCleanup } = processScope()
requireBuilt("X-Minibot-Signature", "outgoing webhooks")

const token = "api-token-for-webhook-process-tests"
const secret = "webhook-secret-of-the-process-test-42"

/** A receiver on a fixed port that records each request's event id and answers 200. */
const receiverOn = (port: number) =>
  new Promise<{ readonly ids: Array<string>; readonly close: () => Promise<void> }>((resolve) => {
    const ids: Array<string> = []
    const server = http.createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        ids.push(String(req.headers["x-minibot-event-id"]))
        res.writeHead(200).end()
      })
    })
    server.listen(port, "127.0.0.1", () =>
      resolve({
        ids,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
      }))
  })

const until = async (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const pendingWithError = async (apiPort: number) => {
  const res = await fetch(`http://127.0.0.1:${apiPort}/api/webhooks/deliveries?status=pending`, {
    headers: { authorization: `Bearer ${token}` }
  }).catch(() => undefined)
  if (res === undefined || res.status !== 200) return false
  const body = (await res.json()) as { items: Array<{ lastError: string | null }> }
  return body.items.length === 1 && body.items[0]!.lastError !== null
}

describe("outgoing webhooks, as a process", () => {
  it("kill -9 while the receiver is down, then a restart: the stored event arrives, once", async () => {
    const dir = tempDir()
    const telegram = adopt(await startFakeTelegram())
    const llm = adopt(await startFakeLlm())
    const receiverPort = await freePort()
    const apiPort = await freePort()
    const file = telegramDaemonConfig(
      dir,
      telegram,
      llm,
      `allowed_user_ids = [42]
[http]
enabled = true
port = ${apiPort}
api_token = "${token}"
[[webhooks]]
url = "http://127.0.0.1:${receiverPort}/hook"
events = ["reply.sent"]
secret = "${secret}"
allow_private_networks = true
`
    )
    const first = launch(["run", "--config", file], { cwd: dir })
    telegram.pushText({ chatId: 42, userId: 42, text: "while the receiver is down" })
    await telegram.waitForSent(1, 15_000)
    await until(() => pendingWithError(apiPort), "a pending delivery with its connection error")
    first.child.kill("SIGKILL")
    expect((await first.exited).signal).toBe("SIGKILL")

    const receiver = await receiverOn(receiverPort)
    onCleanup(receiver.close)
    const second = launch(["run", "--config", file], { cwd: dir })
    await until(() => receiver.ids.length === 1, "the event stored before kill -9")
    // The next event follows it; the first is not sent again.
    telegram.pushText({ chatId: 42, userId: 42, text: "and now" })
    await until(() => receiver.ids.length === 2, "the next event")
    expect(new Set(receiver.ids).size).toBe(2)
    expect(first.stderr + second.stderr).not.toContain(secret)
  })

  it("a bad [[webhooks]] entry stops the start with exit 2, naming its key and never its secret", async () => {
    const dir = tempDir()
    const file = writeConfig(
      dir,
      `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "http://127.0.0.1:9/v1"
[channels.console]
enabled = true
[[webhooks]]
url = "https://hooks.example.com/minibot"
events = ["reply.sent", "reply.snet"]
secret = "tiny-secret"
`
    )
    const p = launch(["run", "--config", file], { cwd: dir })
    expect(await p.exited).toEqual({ code: 2, signal: null })
    expect(p.stderr).toContain(`webhooks[0].events[1]: unknown event kind "reply.snet"; did you mean "reply.sent"?`)
    expect(p.stderr).toContain("webhooks[0].secret: must be at least 16 characters")
    expect(p.stderr).not.toContain("tiny-secret")
  })
})
