/**
 * The Dockerfile and docker-compose.yml without a Docker engine. The runtime stage's steps are
 * replayed from the Dockerfile itself into an empty directory: its COPYs, the production install
 * as the `runtime-deps` stage runs it (npm preferring the local cache), the build's output
 * with source maps dropped as the `build` stage drops them, its RUN with /app and the `node` user
 * mapped to the temp directory and `nobody`. Then the daemon starts there with the image's
 * environment, as `nobody`, as PID 1 of its own PID namespace when the test runs as root, and
 * must answer the HEALTHCHECK, a Telegram message and `minibot pairing list` from PATH, and stop
 * on SIGTERM. Not replayed (see README, Docker): the base images, `npm rebuild better-sqlite3`
 * (the native module is taken from this machine's install, built for the same Node), the build
 * stage's `npm ci` and `npm run build` (the bundle `npm test` builds is used).
 */
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { parse as parseYaml } from "yaml"
import { environmentKeys } from "../../src/config/ConfigEnvironment.ts"
import { freePort, processScope, requireBuilt } from "../support/Daemon.ts"
import { startFakeLlm } from "../support/FakeLlm.ts"
import { startFakeTelegram } from "../support/FakeTelegram.ts"
import { tempDir } from "../support/Harness.ts"

const root = path.resolve(import.meta.dirname, "../..")
const { adopt, onCleanup } = processScope()
requireBuilt("minibot started", "daemon")

interface Instruction {
  readonly op: string
  readonly args: string
}
interface Stage {
  readonly name: string
  readonly instructions: ReadonlyArray<Instruction>
}

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped). */
const parseDockerfile = (text: string): ReadonlyArray<Stage> => {
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
  const stages: Array<{ name: string; instructions: Array<Instruction> }> = []
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/)
    const args = rest.join(" ")
    if (op!.toUpperCase() === "FROM") {
      stages.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1] ?? `stage${stages.length}`, instructions: [] })
    }
    stages.at(-1)!.instructions.push({ op: op!.toUpperCase(), args })
  }
  return stages
}

const dockerfile = parseDockerfile(fs.readFileSync(path.join(root, "Dockerfile"), "utf8"))
const stage = (name: string) => {
  const found = dockerfile.find((s) => s.name === name)
  if (found === undefined) throw new Error(`the Dockerfile has no stage ${name}`)
  return found
}
const runtime = dockerfile.at(-1)!
const of = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op)
const json = (args: string) => JSON.parse(args.replace(/^CMD\s+/, "")) as Array<string>

/** `ENV A=1 B=2` of the runtime stage. */
const imageEnv = Object.fromEntries(
  of(runtime, "ENV").flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]))
)

/** `COPY [--from=X] a b dest`: sources and destination. */
const copyParts = (args: string) => {
  const from = /--from=(\S+)/.exec(args)?.[1]
  const words = args.split(/\s+/).filter((w) => !w.startsWith("--"))
  return { from, sources: words.slice(0, -1), dest: words.at(-1)! }
}

const copyInto = (source: string, dir: string, dest: string) => {
  const target = dest.endsWith("/") || dest === "." ? path.join(dir, dest, path.basename(source)) : path.join(dir, dest)
  fs.cpSync(source, target, { recursive: true, verbatimSymlinks: true })
}

const exitOf = (argv: ReadonlyArray<string>, options: { cwd: string; env: Record<string, string> }) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { ...options, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

/** A step's shell command; asynchronous, so the test worker stays responsive during a long install. */
const sh = async (command: string, cwd: string, env: Record<string, string> = {}) => {
  const result = await exitOf(["sh", "-c", command], { cwd, env: { ...process.env, ...env } as Record<string, string> })
  if (result.code !== 0) throw new Error(`${command} failed (${result.code}):\n${result.stdout}\n${result.stderr}`)
}

/** The `runtime-deps` stage: its COPYs and its RUN, npm offline; the native rebuild taken from here. */
const replayRuntimeDeps = async (dir: string) => {
  const deps = stage("runtime-deps")
  for (const i of of(deps, "COPY")) {
    const { dest, sources } = copyParts(i.args)
    for (const s of sources) copyInto(path.join(root, s), dir, dest)
  }
  for (const i of of(deps, "RUN")) {
    for (const command of i.args.split("&&").map((c) => c.trim())) {
      if (command === "npm rebuild better-sqlite3") {
        const built = "node_modules/better-sqlite3/build/Release/better_sqlite3.node"
        fs.mkdirSync(path.dirname(path.join(dir, built)), { recursive: true })
        fs.copyFileSync(path.join(root, built), path.join(dir, built))
      } else {
        await sh(command, dir, { npm_config_prefer_offline: "true" })
      }
    }
  }
}

/** The `build` stage's output: this checkout's dist/, then what the stage runs after `npm run build`. */
const replayBuild = async (dir: string) => {
  fs.cpSync(path.join(root, "dist"), path.join(dir, "dist"), { recursive: true })
  const run = of(stage("build"), "RUN").map((i) => i.args).find((a) => a.includes("npm run build"))
  expect(run, "the build stage runs the full npm run build (dashboard included)").toBeDefined()
  for (const command of run!.split("&&").map((c) => c.trim()).filter((c) => c !== "npm run build")) {
    await sh(command, dir)
  }
}

const asRoot = process.getuid?.() === 0

/** The runtime stage into `app`, `/usr/local/bin` into `bin`; returns the entrypoint's argv. */
const replayRuntime = async (app: string, bin: string, stages: string) => {
  for (const i of of(runtime, "COPY")) {
    const { dest, from, sources } = copyParts(i.args)
    if (from === undefined) {
      for (const s of sources) copyInto(path.join(root, s), app, dest)
    } else {
      const built = path.join(stages, from)
      if (!fs.existsSync(built)) {
        fs.mkdirSync(built, { recursive: true })
        if (from === "runtime-deps") await replayRuntimeDeps(built)
        else if (from === "build") await replayBuild(built)
        else throw new Error(`COPY --from=${from}: no replay for that stage`)
      }
      for (const s of sources) copyInto(path.join(built, path.relative("/app", s)), app, dest)
    }
  }
  for (const i of of(runtime, "RUN")) {
    const mapped = i.args.replaceAll("/usr/local/bin", bin).replaceAll("/app", app)
    await sh(asRoot ? mapped.replaceAll("node:node", "nobody:nogroup") : mapped.replace(/chown \S+ \S+/g, "true"), app)
  }
  return [...json(of(runtime, "ENTRYPOINT")[0]!.args), ...json(of(runtime, "CMD")[0]!.args)]
}

/** `nobody`, as PID 1 of a new PID namespace (the container's situation), when the test may. */
const confine = (argv: ReadonlyArray<string>) =>
  asRoot
    ? [
      "unshare",
      "--pid",
      "--fork",
      "--kill-child",
      "setpriv",
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      ...argv
    ]
    : [...argv]

const until = async (check: () => boolean | Promise<boolean>, what: () => string, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe("the Docker image, replayed without Docker", () => {
  it(
    "installs apart from the source, runs as nobody with the image's settings, answers /healthz and stops on SIGTERM",
    async () => {
      // The dependency stage reads the package files alone: a source change does not invalidate it.
      for (const name of ["deps", "runtime-deps"]) {
        const copies = of(stage(name), "COPY").flatMap((i) => copyParts(i.args).sources)
        expect(copies, `what the ${name} stage copies`).toEqual(["package.json", "package-lock.json"])
        expect(of(stage(name), "RUN").map((i) => i.args).join(" "), name).toContain("npm ci")
      }
      expect(of(runtime, "USER").map((i) => i.args)).toEqual(["node"])
      expect(of(runtime, "VOLUME")[0]!.args).toContain(imageEnv.MINIBOT_DATA_DIR)
      // The image's settings are variables the configuration reads.
      const known = new Set(environmentKeys.map((k) => k.variable))
      for (const name of Object.keys(imageEnv).filter((n) => n.startsWith("MINIBOT_"))) expect(known).toContain(name)
      expect(imageEnv).toMatchObject({ MINIBOT_HTTP_ENABLED: "true", MINIBOT_HTTP_HOST: "0.0.0.0" })

      const dir = tempDir("minibot-image-")
      fs.chmodSync(dir, 0o755)
      const [app, bin, stages] = ["app", "bin", "stages"].map((d) => path.join(dir, d)) as [string, string, string]
      fs.mkdirSync(app)
      fs.mkdirSync(bin)
      const argv = await replayRuntime(app, bin, stages)

      // What the runtime does not need stayed out.
      const files = fs.readdirSync(app, { recursive: true }) as Array<string>
      expect(files.filter((f) => f.endsWith(".map"))).toEqual([])
      expect(fs.existsSync(path.join(app, "node_modules", "vitest"))).toBe(false)
      expect(fs.existsSync(path.join(app, "node_modules", "typescript"))).toBe(false)
      expect(fs.existsSync(path.join(app, "src"))).toBe(false)
      expect(fs.existsSync(path.join(app, "dist", "admin", "index.html"))).toBe(true)

      const telegram = adopt(await startFakeTelegram())
      const llm = adopt(await startFakeLlm())
      const port = await freePort()
      const env: Record<string, string> = {
        PATH: `${bin}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
        HOME: app,
        ...Object.fromEntries(Object.entries(imageEnv).map(([k, v]) => [k, v.replaceAll("/app", app)])),
        MINIBOT_HTTP_PORT: String(port),
        TELEGRAM_BOT_TOKEN: telegram.token,
        MINIBOT_TELEGRAM_API_ROOT: telegram.url,
        OPENAI_BASE_URL: llm.url,
        OPENAI_API_KEY: "sk-test",
        MINIBOT_ALLOWED_USER_IDS: "42"
      }
      const daemon = spawn(confine(argv)[0]!, confine(argv).slice(1), {
        cwd: app,
        env,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stderr = ""
      daemon.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<number | null>((resolve) => daemon.on("exit", (code) => resolve(code)))
      onCleanup(async () => void daemon.kill("SIGKILL"))

      // The image's HEALTHCHECK command, as Docker runs it.
      const healthcheck = json(of(runtime, "HEALTHCHECK")[0]!.args.replace(/^.*?CMD\s+/, ""))
      expect(healthcheck.join(" ")).toContain("/healthz")
      await until(
        async () => (await exitOf(healthcheck, { cwd: app, env })).code === 0,
        () => `healthy; log:\n${stderr}`
      )

      telegram.pushText({ chatId: 42, userId: 42, text: "hello from the image" })
      const [reply] = await telegram.waitForSent(1, 30_000)
      expect(reply!.text).toBe("echo: hello from the image")
      const dataDir = env.MINIBOT_DATA_DIR!
      if (asRoot) {
        expect(fs.statSync(path.join(dataDir, "minibot.db")).uid).toBe(65534)
      }

      // `docker exec <container> minibot pairing list`: the command on PATH, beside the daemon.
      const listed = await exitOf(confine(["minibot", "pairing", "list"]), { cwd: app, env })
      expect(listed).toMatchObject({ code: 0, stdout: expect.stringContaining("No pending pairing requests.") })

      // docker stop: SIGTERM to PID 1 (the daemon itself, no init), a clean stop.
      const pid1 = asRoot
        ? Number(fs.readFileSync(`/proc/${daemon.pid}/task/${daemon.pid}/children`, "utf8").trim())
        : daemon.pid!
      process.kill(pid1, "SIGTERM")
      expect(await exited).toBe(0)
      expect(stderr).toMatch(/message="minibot stopped" .*reason=SIGTERM/)
      // Inside the test's own time (a whole node_modules); a failed run leaves it for inspection.
      await fs.promises.rm(dir, { recursive: true, force: true })
    },
    180_000
  )
})

describe("docker-compose.yml", () => {
  const compose = parseYaml(fs.readFileSync(path.join(root, "docker-compose.yml"), "utf8")) as {
    services: Record<string, Record<string, unknown>>
    volumes: Record<string, unknown>
  }

  it("Postgres, NATS, Redis and two runners, each with a health check; runners wait for healthy servers", () => {
    const { services } = compose
    expect(Object.keys(services).sort()).toEqual(["minibot", "nats", "postgres", "redis"])
    for (const [name, service] of Object.entries(services)) {
      const test = (service.healthcheck as { test?: unknown } | undefined)?.test
      if (name === "minibot") expect(test, "the runner's health check is the image's").toBeUndefined()
      else expect(Array.isArray(test) && test.length > 1, `${name} has a healthcheck`).toBe(true)
    }
    const runner = services.minibot!
    expect((runner.deploy as { replicas: number }).replicas).toBe(2)
    expect(runner.depends_on).toEqual({
      postgres: { condition: "service_healthy" },
      nats: { condition: "service_healthy" },
      redis: { condition: "service_healthy" }
    })
    for (const server of ["postgres", "nats", "redis"]) {
      const volumes = services[server]!.volumes as Array<string>
      expect(volumes.some((v) => Object.keys(compose.volumes).includes(v.split(":")[0]!)), server).toBe(true)
    }
    // Secrets come from the environment, required: never written in the file.
    expect(JSON.stringify(services)).not.toMatch(/PASSWORD: (?!\$\{)/)
    expect((services.postgres!.environment as Record<string, string>).POSTGRES_PASSWORD).toMatch(
      /^\$\{POSTGRES_PASSWORD:\?/
    )
  })

  it("the runners' configuration is valid, and every variable it needs is given to the runners", async () => {
    const runner = compose.services.minibot!
    const environment = runner.environment as Record<string, string>
    const mount = (runner.volumes as Array<string>).find((v) => v.includes(environment.MINIBOT_CONFIG!))!
    const configFile = path.join(root, mount.split(":")[0]!)
    const settings = fs.readFileSync(configFile, "utf8").split("\n").filter((l) => !l.startsWith("#")).join("\n")
    const needed = [...settings.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!)
    // Docker itself sets HOSTNAME in every container (the container's short id, which compose's DNS resolves).
    const byDocker = ["HOSTNAME"]
    for (const name of needed.filter((n) => !byDocker.includes(n))) {
      expect(Object.keys(environment), `${name} is set for the runners`).toContain(name)
    }
    const overrides = new Set(environmentKeys.map((k) => k.variable))
    for (const name of Object.keys(environment).filter((n) => n.startsWith("MINIBOT_") && n !== "MINIBOT_CONFIG")) {
      expect(overrides, `${name} is read by minibot`).toContain(name)
    }
    // As compose would fill it in (dummy secrets): check-config accepts it.
    const filled = Object.fromEntries(Object.keys(environment).map((k) => [k, `dummy-${k.toLowerCase()}`]))
    Object.assign(filled, {
      DATABASE_URL: "postgres://minibot:pw@postgres:5432/minibot",
      NATS_URL: "nats://nats:4222",
      REDIS_URL: "redis://:pw@redis:6379",
      TELEGRAM_BOT_TOKEN: "123:abc",
      MINIBOT_ALLOWED_USER_IDS: "42",
      OPENAI_BASE_URL: "http://llm:8000/v1",
      MINIBOT_MODEL: "some-model",
      MINIBOT_HTTP_API: "true",
      MINIBOT_HTTP_API_TOKEN: "a-long-enough-api-token",
      HOSTNAME: "3f2a9c1b7d4e"
    })
    const dir = tempDir()
    const checked = await exitOf(
      [process.execPath, path.join(root, "dist", "main.js"), "check-config", "--config", configFile],
      { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, ...filled } }
    )
    expect(checked).toMatchObject({ code: 0, stdout: expect.stringContaining("configuration OK") })
  })
})
