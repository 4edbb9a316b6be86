/** The daemon on `[memory] backend = "redis"`, as a process: history outlives the process and its data_dir. */
import { describe, expect, it } from "@effect/vitest"
import { createClient } from "redis"
import { afterEach } from "vitest"
import { type MinibotProcess, spawnMinibot, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, startFakeLlm } from "../support/FakeLlm.ts"
import { tempDir } from "../support/Harness.ts"

const testRedisUrl = process.env.MINIBOT_TEST_REDIS ?? "redis://127.0.0.1:6379"

const running: Array<MinibotProcess> = []
const fakes: Array<FakeLlmServer> = []
const prefixes: Array<string> = []
afterEach(async () => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill("SIGKILL")
  for (const f of fakes.splice(0)) await f.close()
  const redis = await createClient({ url: testRedisUrl }).connect()
  for (const prefix of prefixes.splice(0)) {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(keys)
  }
  await redis.close()
})

const start = (args: ReadonlyArray<string>, cwd: string) => {
  const p = spawnMinibot(args, { cwd })
  running.push(p)
  return p
}

const configIn = (dir: string, fake: FakeLlmServer, redis: string) =>
  writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${fake.url}"
api_key = "sk-e2e"
[channels.console]
enabled = true
[memory]
backend = "redis"
[memory.redis]
${redis}
`
  )

describe("minibot with history on Redis", () => {
  it("a second process with another data_dir remembers the conversation", async () => {
    const fake = await startFakeLlm({})
    fakes.push(fake)
    const prefix = `minibot-test:${Math.random().toString(36).slice(2, 10)}:`
    prefixes.push(prefix)
    const redis = `url = "${testRedisUrl}"\nkey_prefix = "${prefix}"\nttl_seconds = 600`
    const firstDir = tempDir()
    const first = start(["console", "--config", configIn(firstDir, fake, redis), "--once", "my name is Ada"], firstDir)
    expect(await first.exited, first.stdout + first.stderr).toEqual({ code: 0, signal: null })

    const secondDir = tempDir()
    const second = start(["console", "--config", configIn(secondDir, fake, redis), "--once", "who am I?"], secondDir)
    expect((await second.exited).code).toBe(0)
    expect(second.stdout).toBe("echo: who am I?\n")
    const [, withHistory] = fake.completions().map((r) => r.body.messages.map((m) => m.content))
    expect(withHistory).toEqual([expect.any(String), "my name is Ada", "echo: my name is Ada", "who am I?"])
  })

  it("an unreachable Redis stops the start with an error naming memory.redis.url, not the password", async () => {
    const fake = await startFakeLlm({})
    fakes.push(fake)
    const dir = tempDir()
    const p = start(["run", "--config", configIn(dir, fake, `url = "redis://:hunter2@127.0.0.1:1"`)], dir)
    const exit = await p.exited
    expect(exit.code).not.toBe(0)
    const output = p.stdout + p.stderr
    expect(output).toContain("cannot connect to 127.0.0.1:1 (memory.redis.url)")
    expect(output).not.toContain("hunter2")
    expect(fake.completions()).toEqual([])
  })
})
