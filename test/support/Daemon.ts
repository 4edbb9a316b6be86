/**
 * The compiled CLI (`dist/main.js`, built by `npm test`'s pretest) as a child process, for tests
 * where the process is the point: signals, kill -9, exit codes, what it prints.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeAll } from "vitest"
import { freePort, nodeFlags } from "./Process.ts"

export { freePort }

const root = path.resolve(import.meta.dirname, "../..")
export const mainJs = path.join(root, "dist", "main.js")

/** The text of the built daemon: dist/main.js and the chunks it loads ("" when not built). */
export const builtBundle = () => {
  const dist = path.dirname(mainJs)
  return fs.existsSync(mainJs)
    ? fs.readdirSync(dist).filter((f) => f.endsWith(".js")).map((f) => fs.readFileSync(path.join(dist, f), "utf8"))
      .join("")
    : ""
}

export interface MinibotProcess {
  readonly child: ChildProcess
  stdout: string
  stderr: string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly waitForStdout: (pattern: RegExp, timeoutMs?: number) => Promise<void>
  readonly waitForStderr: (pattern: RegExp, timeoutMs?: number) => Promise<void>
  readonly send: (line: string) => void
}

const until = async (check: () => boolean, what: () => string, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const spawnMinibot = (
  args: ReadonlyArray<string>,
  options: { cwd: string; env?: Record<string, string> }
): MinibotProcess => {
  if (!fs.existsSync(mainJs)) throw new Error(`${mainJs} is missing: run \`npm run build\` (npm test does it)`)
  const child = spawn(process.execPath, [...nodeFlags, mainJs, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "", HOME: options.cwd, ...options.env },
    stdio: ["pipe", "pipe", "pipe"]
  })
  const proc: MinibotProcess = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal }))),
    waitForStdout: (pattern, timeoutMs = 15_000) =>
      until(
        () => pattern.test(proc.stdout),
        () => `${pattern} on stdout; got:\n${proc.stdout}\nstderr:\n${proc.stderr}`,
        timeoutMs
      ),
    waitForStderr: (pattern, timeoutMs = 15_000) =>
      until(() => pattern.test(proc.stderr), () => `${pattern} on stderr; got:\n${proc.stderr}`, timeoutMs),
    send: (line) => void child.stdin!.write(line + "\n")
  }
  child.stdout!.on("data", (d: Buffer) => (proc.stdout += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (proc.stderr += d.toString()))
  return proc
}

export const writeConfig = (dir: string, toml: string) => {
  const file = path.join(dir, "config.toml")
  fs.writeFileSync(file, toml)
  return file
}

/** Fails the file at once, naming the fix, when the built daemon lacks `marker` (what it shows `what` is). */
export const requireBuilt = (marker: string, what: string) =>
  beforeAll(() => {
    if (!builtBundle().includes(marker)) {
      throw new Error(`${mainJs} is missing or has no ${what}: run \`npm run build\` first (npm test does it)`)
    }
  })

export interface ProcessScope {
  /** Spawns `dist/main.js`; the process is killed after the test if it still runs. */
  readonly launch: (
    args: ReadonlyArray<string>,
    options: { cwd: string; env?: Record<string, string> }
  ) => MinibotProcess
  /** A server (a fake Bot API or LLM) closed after the test, once the processes are dead. */
  readonly adopt: <S extends { readonly close: () => Promise<unknown> }>(server: S) => S
  /** Anything else to undo after the test, after the processes are dead. */
  readonly onCleanup: (close: () => Promise<unknown>) => void
}

/** Where a failed test's daemons leave their logs (stderr), one file per process. */
const failedLogs = path.join(os.tmpdir(), "minibot-failed-tests")

/**
 * The processes and servers of a test file: after each test, a process still running is killed
 * with SIGKILL (so a failed test leaves no daemon behind), then what was adopted is closed. When
 * the test failed, each process's stderr is written under `failedLogs` (the path is printed).
 */
export const processScope = (): ProcessScope => {
  const running: Array<MinibotProcess> = []
  const closers: Array<() => Promise<unknown>> = []
  afterEach(async (context) => {
    if (context.task.result?.state === "fail" && running.length > 0) {
      fs.mkdirSync(failedLogs, { recursive: true })
      const dir = fs.mkdtempSync(failedLogs + path.sep)
      running.forEach((p, i) => fs.writeFileSync(path.join(dir, `process-${i + 1}.log`), p.stderr))
      console.log(`${context.task.name}: the daemons' logs are in ${dir}`)
    }
    for (const p of running.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
    }
    for (const close of closers.splice(0)) await close()
  })
  return {
    launch: (args, options) => {
      const p = spawnMinibot(args, options)
      running.push(p)
      return p
    },
    adopt: (server) => {
      closers.push(() => server.close())
      return server
    },
    onCleanup: (close) => void closers.push(close)
  }
}

/**
 * The config of a daemon with the Telegram channel against fake servers. `extra` follows the
 * `[channels.telegram]` keys (more keys, then other sections); `llmKeys` adds to `[llm]`.
 */
export const telegramDaemonConfig = (
  dir: string,
  telegram: { readonly url: string; readonly token: string },
  llm: { readonly url: string },
  extra = "",
  llmKeys = ""
) =>
  writeConfig(
    dir,
    `
[runtime]
data_dir = "${dir}/data"
log_level = "info"
[llm]
base_url = "${llm.url}"
model = "fake-model"
${llmKeys}
[channels.telegram]
enabled = true
bot_token = "${telegram.token}"
api_root = "${telegram.url}"
poll_timeout_seconds = 5
${extra}
`
  )

/**
 * One runner of several on a Postgres database: `[storage]`, its `[cluster] runner_address` and,
 * with a port, `[http]` on loopback (the API without a token). TOML to follow the other sections.
 */
export const runnerKeys = (dbUrl: string, address: string, httpPort?: number) => `
[storage]
backend = "postgres"
postgres_url = "${dbUrl}"
[cluster]
runner_address = "${address}"
${httpPort === undefined ? "" : `[http]\nenabled = true\nport = ${httpPort}`}
`

/** Posts a private text message from user 1001 to a daemon's webhook route, as Telegram would; the HTTP status. */
export const postToWebhook = (httpPort: number, secret: string, updateId: number, text: string) =>
  fetch(`http://127.0.0.1:${httpPort}/telegram/hook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
    body: JSON.stringify({
      update_id: updateId,
      message: {
        message_id: updateId,
        date: 0,
        chat: { id: 1001, type: "private", first_name: "Ann" },
        from: { id: 1001, is_bot: false, first_name: "Ann" },
        text
      }
    })
  }).then((r) => r.status)
