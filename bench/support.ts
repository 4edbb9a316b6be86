/**
 * What the benchmarks share: temp dirs, quantiles, and the daemon's runtime in-process on a fresh
 * SQLite file with a recording console channel.
 */
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import * as Layers from "../src/app/Layers.ts"
import { ConsoleOut, notEnabled, type OutboundMessage, TelegramOut } from "../src/channels/Outbound.ts"
import { AppConfig, type LlmSettings, makeConfig } from "../src/config/Config.ts"
import type { Llm } from "../src/llm/Llm.ts"
import * as Database from "../src/storage/Database.ts"
import { type FakeLlmServer, lastUserContent, type RecordedRequest } from "../test/support/FakeLlm.ts"
import { nodeFlags } from "../test/support/Process.ts"

export const root = path.resolve(import.meta.dirname, "..")
export const tmp = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix))
export const sleep = (millis: number) => new Promise((r) => setTimeout(r, millis))

export const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}
export const median = (values: ReadonlyArray<number>) => quantile(values, 0.5)

/** The runtime in this process over `llm`; `delivered` hears of every reply with its time. */
export const runtimeAt = <E>(options: {
  readonly dataDir: string
  readonly llm: Layer.Layer<Llm, E, LlmSettings>
  readonly config?: Record<string, unknown>
  readonly delivered: (message: OutboundMessage, at: number) => void
}) =>
  Effect.gen(function*() {
    const config = makeConfig({
      ...options.config,
      runtime: { data_dir: options.dataDir },
      llm: {
        base_url: "http://127.0.0.1:9/v1",
        api_key: "sk-bench",
        model: "bench",
        retry_attempts: 0,
        ...options.config?.llm as object
      }
    })
    const senders = Layer.merge(
      Layer.succeed(ConsoleOut, {
        send: (message) => Effect.sync(() => (options.delivered(message, performance.now()), { chunks: 1 }))
      }),
      Layer.succeed(TelegramOut, notEnabled("telegram"))
    )
    const layer = Layers.runtimeWith(options.llm).pipe(
      Layer.provideMerge(Database.sqliteAt(Database.databaseFile(options.dataDir))),
      Layer.provideMerge(AppConfig.layer(config)),
      Layer.provide(senders)
    )
    return yield* Layer.build(layer)
  })

/**
 * The fake LLM's time on the request whose last user message is `text` (0 when there was none).
 * Indexed as requests come, so looking up a reply costs the same at the 1,000th message as at the
 * first: a scan per reply would load the event loop the daemon shares with the bench.
 */
export const llmTimes = (fake: FakeLlmServer) => {
  const byText = new Map<string, RecordedRequest>()
  let seen = 0
  return (text: string): number => {
    const all = fake.completions()
    if (all.length < seen) {
      // The fake was reset.
      byText.clear()
      seen = 0
    }
    for (; seen < all.length; seen++) {
      const request = all[seen]!
      const key = lastUserContent(request.body)
      if (!byText.has(key)) byText.set(key, request)
    }
    return byText.get(text)?.handledMs ?? 0
  }
}

/** A fake LLM as the daemon's runtime in this process sees it: where it is, and its time per request. */
export interface BenchLlm {
  readonly url: string
  /** The fake's own time on the request whose last user message is `text`, once it has answered. */
  readonly handledMs: (text: string) => Promise<number>
  readonly close: () => Promise<unknown>
}

/**
 * The fake LLM in a process of its own (`test/support/fake-llm-main.ts`). In the same event loop
 * as the client, some requests on a reused keep-alive connection wait for the rest of the load
 * (seconds, with 100 at once), which no LLM server elsewhere does: the in-process runs talk to it
 * here.
 */
export const fakeLlmProcess = async (latencyMs: number): Promise<BenchLlm> => {
  const script = path.join(root, "test", "support", "fake-llm-main.ts")
  const child = spawn(process.execPath, [
    "--import",
    "tsx",
    script,
    "--latency-ms",
    String(latencyMs),
    "--report-handled"
  ], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"]
  })
  const handled = new Map<string, number>()
  const waiting = new Map<string, (ms: number) => void>()
  const lines = readline.createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    lines.on("line", (line) => {
      const parsed = JSON.parse(line) as { url?: string; user?: string; handledMs?: number }
      if (parsed.url !== undefined) return resolve(parsed.url)
      handled.set(parsed.user!, parsed.handledMs ?? 0)
      waiting.get(parsed.user!)?.(parsed.handledMs ?? 0)
    })
    child.once("exit", (code) => reject(new Error(`the fake LLM exited with ${code}`)))
  })
  return {
    url,
    handledMs: (text) =>
      handled.has(text) ? Promise.resolve(handled.get(text)!) : new Promise((resolve) => waiting.set(text, resolve)),
    close: () => stopDaemon(child)
  }
}

/** The in-process fake LLM as a `BenchLlm`. */
export const inProcessLlm = (fake: FakeLlmServer): BenchLlm => {
  const times = llmTimes(fake)
  return { url: fake.url, handledMs: (text) => Promise.resolve(times(text)), close: () => fake.close() }
}

/** CPU time (user + system) a process has used so far, in ms (what a loaded machine does not inflate much). */
export const cpuMs = (pid: number) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")
  // utime and stime are the 12th and 13th fields after the command, in clock ticks (100 a second).
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Resident memory of a process, in MB. */
export const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024

/**
 * A daemon's config with the Telegram channel on the fakes: `access` is the line that lets the
 * bench's chats in (`allowed_user_ids = [...]` or `allowed_chat_ids = [...]`); `extra` is more
 * `[channels.telegram]` keys, then other sections.
 */
export const telegramDaemonToml = (options: {
  readonly dir: string
  readonly tg: { readonly url: string; readonly token: string }
  readonly llm: { readonly url: string }
  readonly access: string
  readonly logLevel?: string
  readonly extra?: string
}) => `
[runtime]
data_dir = "${options.dir}/data"
log_level = "${options.logLevel ?? "warning"}"
[llm]
base_url = "${options.llm.url}"
api_key = "sk-bench"
[channels.telegram]
enabled = true
bot_token = "${options.tg.token}"
api_root = "${options.tg.url}"
${options.access}
${options.extra ?? ""}
`

/** Runs a bench file's `main` as a script: prints its rows as a Markdown table under `header`, exits 0 (1 on failure). */
export const printRows = (main: () => Promise<ReadonlyArray<ReadonlyArray<string>>>, header: ReadonlyArray<string>) =>
  main().then((rows) => {
    console.log(`\n| ${header.join(" | ")} |\n|${header.map(() => "---|").join("")}`)
    for (const r of rows) console.log(`| ${r.join(" | ")} |`)
    process.exit(0)
  }, (e) => {
    console.error(e)
    process.exit(1)
  })

/** Writes `toml` as `dir/config.toml` and starts the compiled daemon (`minibot run`) there. */
export const spawnDaemon = (dir: string, toml: string, stderr: "inherit" | "pipe") => {
  fs.writeFileSync(path.join(dir, "config.toml"), toml)
  // BENCH_DAEMON_FLAGS adds node flags to the daemon (for example `--cpu-prof --cpu-prof-dir=/tmp/prof`).
  const extra = (process.env.BENCH_DAEMON_FLAGS ?? "").split(" ").filter((flag) => flag !== "")
  // BENCH_DAEMON_DIST runs another build (a copy of dist/ in the project), to compare two builds in one session.
  const dist = path.join(root, process.env.BENCH_DAEMON_DIST ?? "dist")
  const args = [...nodeFlags, ...extra, path.join(dist, "main.js"), "run", "--config", "config.toml"]
  return spawn(process.execPath, args, {
    cwd: dir,
    stdio: ["pipe", "ignore", stderr]
  })
}

/** SIGTERM, then wait for the process to exit. */
export const stopDaemon = (child: ChildProcess) => {
  const exited = new Promise((r) => child.on("exit", r))
  child.kill("SIGTERM")
  return exited
}
