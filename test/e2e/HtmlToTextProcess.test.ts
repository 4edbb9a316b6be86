import { describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach } from "vitest"
import { spawnMinibot, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, startFakeLlm } from "../support/FakeLlm.ts"
import { tempDir } from "../support/Harness.ts"

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

const page = (html: string) =>
  new Promise<string>((resolve) => {
    const server = http.createServer((_, res) => {
      res.setHeader("content-type", "text/html")
      res.end(html)
    })
    cleanups.push(() => new Promise((r) => server.close(() => r())))
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`))
  })

/** The model fetches `url`, then answers with the tool's result as it received it. */
const fetchingModel = async (url: string): Promise<FakeLlmServer> => {
  const fake = await startFakeLlm()
  cleanups.push(() => fake.close())
  fake.enqueue({ toolCalls: [{ name: "http_request", arguments: { url } }] })
  fake.script((request) => ({ content: String(request.messages.at(-1)?.content ?? "") }))
  return fake
}

const ask = (fake: FakeLlmServer, extra = "") => {
  const dir = tempDir()
  const config = writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${fake.url}"
api_key = "sk-test"
[channels.console]
enabled = true
[tools.http_client]
enabled = true
allow_private_networks = true
${extra}
`
  )
  const p = spawnMinibot(["console", "--config", config, "--once", "read the page"], { cwd: dir })
  cleanups.push(async () => void (p.child.exitCode === null && p.child.kill("SIGKILL")))
  return p
}

describe("HTML to text in the built daemon (dist/main.js and its worker file)", () => {
  it("converts a page in its worker thread", async () => {
    const fake = await fetchingModel(await page("<html><body><p>Tomatoes are <b>2 euros</b></p></body></html>"))
    const p = ask(fake)
    expect((await p.exited).code).toBe(0)
    expect(JSON.parse(p.stdout)).toMatchObject({ ok: true, result: { body: "Tomatoes are 2 euros" } })
  })

  it("a page too deep to convert in time is an error answer, and the daemon goes on", async () => {
    const deep = `<html><body>${"<div>".repeat(80_000)}x${"</div>".repeat(80_000)}</body></html>`
    const fake = await fetchingModel(await page(deep))
    const p = ask(fake, "html_timeout_seconds = 1")
    expect((await p.exited).code).toBe(0)
    expect(JSON.parse(p.stdout)).toMatchObject({
      ok: false,
      error: expect.stringContaining("could not be converted to text within 1s")
    })
  })
})
