/**
 * Start-up failures an operator can fix: one `minibot: ...` line naming the key or file and the
 * fix, a distinct exit code, no stack trace.
 */
import { Reactivity } from "@effect/experimental"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { freePort, type MinibotProcess, processScope, writeConfig } from "../support/Daemon.ts"
import { type FakeLlmServer, startFakeLlm } from "../support/FakeLlm.ts"
import { type FakeTelegramServer, startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"

/** The exit codes main.ts documents: part of the contract with supervisors and scripts. */
const exitCodes = {
  usage: 3,
  dataDirUnwritable: 5,
  databaseCorrupt: 6,
  databaseLocked: 7,
  httpUnavailable: 8,
  channelsFailed: 9
} as const

const { adopt, launch, onCleanup } = processScope()

const start = (args: ReadonlyArray<string>, cwd: string) => launch(args, { cwd })

const fakeLlm = async () => adopt(await startFakeLlm())

const consoleConfig = (dir: string, fake: FakeLlmServer, extra = "", dataDir = `${dir}/data`) =>
  writeConfig(
    dir,
    `
[runtime]
data_dir = "${dataDir}"
[llm]
base_url = "${fake.url}"
api_key = "sk-test"
[channels.console]
enabled = true
${extra}
`
  )

/** The process's one error line, and its exit code. */
const failure = async (p: MinibotProcess) => {
  const { code } = await p.exited
  const lines = p.stderr.split("\n").filter((l) => l.startsWith("minibot: "))
  expect(lines).toHaveLength(1)
  expect(p.stderr).not.toMatch(/\n\s+at /)
  return { code, line: lines[0]! }
}

describe("start-up failures", () => {
  it("an unknown flag or command", async () => {
    const dir = tempDir()
    const flag = await failure(start(["run", "--bogus"], dir))
    expect(flag).toEqual({
      code: exitCodes.usage,
      line: expect.stringMatching(/^minibot: .*'--bogus'.*minibot --help/)
    })
    const command = await failure(start(["serve"], dir))
    expect(command).toEqual({ code: exitCodes.usage, line: expect.stringMatching(/^minibot: .*'run'.*minibot --help/) })
  })

  it("the [http] port is in use", async () => {
    const dir = tempDir()
    const port = await freePort()
    const taken = net.createServer().listen(port, "127.0.0.1")
    onCleanup(() => new Promise((r) => taken.close(r)))
    const fake = await fakeLlm()
    const p = start(["run", "--config", consoleConfig(dir, fake, `[http]\nenabled = true\nport = ${port}\n`)], dir)
    expect(await failure(p)).toEqual({
      code: exitCodes.httpUnavailable,
      line: `minibot: [http] cannot listen on 127.0.0.1:${port}: the address is already in use; ` +
        "stop the program using it, or set http.port (and http.host) to a free address"
    })
    expect(p.stderr).not.toContain("minibot started")
  })

  it("data_dir cannot be written", async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "not-a-dir"), "")
    const dataDir = path.join(dir, "not-a-dir", "data")
    const fake = await fakeLlm()
    const p = start(["run", "--config", consoleConfig(dir, fake, "", dataDir)], dir)
    const { code, line } = await failure(p)
    expect(code).toBe(exitCodes.dataDirUnwritable)
    expect(line).toMatch(new RegExp(`^minibot: data_dir ${dataDir} is not writable \\(ENOTDIR.*set runtime.data_dir`))
  })

  it("the database is not a SQLite database", async () => {
    const dir = tempDir()
    fs.mkdirSync(path.join(dir, "data"), { mode: 0o700 })
    const db = path.join(dir, "data", "minibot.db")
    fs.writeFileSync(db, "this is not a database, and it is long enough to have a header".repeat(100))
    const fake = await fakeLlm()
    const { code, line } = await failure(start(["run", "--config", consoleConfig(dir, fake)], dir))
    expect(code).toBe(exitCodes.databaseCorrupt)
    expect(line).toMatch(new RegExp(`^minibot: the database ${db} is damaged or not a SQLite database .*restore it`))
  })

  it.live("the database is locked by another program", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      fs.mkdirSync(path.join(dir, "data"), { mode: 0o700 })
      const db = path.join(dir, "data", "minibot.db")
      const other = yield* SqliteClient.make({ filename: db, disableWAL: true }).pipe(Effect.provide(Reactivity.layer))
      yield* other.unsafe("BEGIN EXCLUSIVE")
      const fake = yield* Effect.promise(() => fakeLlm())
      const p = start(["run", "--config", consoleConfig(dir, fake)], dir)
      const { code, line } = yield* Effect.promise(() => failure(p))
      expect(code).toBe(exitCodes.databaseLocked)
      expect(line).toBe(
        `minibot: the database ${db} is locked by another program; close it (a sqlite3 shell, a backup tool) and start again`
      )
    }).pipe(Effect.scoped), 30_000)

  it("a rejected bot token with Telegram the only channel: no \"started\", exit non-zero naming bot_token", async () => {
    const dir = tempDir()
    const telegram: FakeTelegramServer = adopt(await startFakeTelegram())
    const fake = await fakeLlm()
    const config = writeConfig(
      dir,
      `
[runtime]
data_dir = "${dir}/data"
[llm]
base_url = "${fake.url}"
api_key = "sk-test"
[channels.telegram]
enabled = true
bot_token = "999:wrong-token"
api_root = "${telegram.url}"
`
    )
    const p = start(["run", "--config", config], dir)
    const { code, line } = await failure(p)
    expect(code).toBe(exitCodes.channelsFailed)
    expect(line).toMatch(
      /^minibot: every enabled channel failed: telegram: Telegram rejected the bot token .*bot_token/
    )
    expect(p.stderr).not.toContain("minibot started")
    expect(p.stderr).not.toContain("wrong-token")
  })

  it("data_dir is created 0700 with its database 0600; an existing looser one gets a warning", async () => {
    const dir = tempDir()
    const fake = await fakeLlm()
    const fresh = start(["console", "--config", consoleConfig(dir, fake), "--once", "hi"], dir)
    expect((await fresh.exited).code).toBe(0)
    const mode = (file: string) => fs.statSync(path.join(dir, "data", file)).mode & 0o777
    expect(mode(".")).toBe(0o700)
    expect(mode("minibot.db")).toBe(0o600)
    expect(fresh.stderr).not.toContain("can be read by other users")

    fs.chmodSync(path.join(dir, "data"), 0o755)
    const loose = launch(["console", "--config", consoleConfig(dir, fake), "--once", "hi"], {
      cwd: dir,
      env: { MINIBOT_LOG_LEVEL: "warn" }
    })
    expect((await loose.exited).code).toBe(0)
    expect(loose.stderr).toContain(`data_dir ${dir}/data can be read by other users (mode 755): run chmod 700`)
  })
})
