/**
 * The compiled CLI (`dist/main.js`, built by `npm test`'s pretest) as a child process, for tests
 * where the process is the point: signals, kill -9, exit codes, what it prints.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"

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
  const child = spawn(process.execPath, [mainJs, ...args], {
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

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

export const writeConfig = (dir: string, toml: string) => {
  const file = path.join(dir, "config.toml")
  fs.writeFileSync(file, toml)
  return file
}
