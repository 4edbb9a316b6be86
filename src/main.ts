/**
 * The `minibot` command line on Node, and the one place that turns a failure into what the
 * operator reads: a failure they can fix is one line `minibot: ...` naming the key or file and the
 * fix, with its own exit code (below), never a stack trace; anything else is a bug (exit 1).
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit, Option, Predicate } from "effect"
import { cli } from "./cli/Cli.ts"

/** Exit codes, one per kind of failure (0: stopped by a signal or done; 1: anything unexpected). */
const exitCodes = {
  /** A wrong or missing configuration value (the message names the keys). */
  config: 2,
  /** An unknown command or flag. */
  usage: 3,
  /** Another minibot process holds `data_dir`. */
  dataDirLocked: 4,
  /** `data_dir` or the database file cannot be written. */
  dataDirUnwritable: 5,
  /** The database file is damaged or not SQLite. */
  databaseCorrupt: 6,
  /** Another program holds a lock on the database file. */
  databaseLocked: 7,
  /** `[http]`, or the runner at `[cluster] runner_address`, cannot listen on its address (in use, or not allowed). */
  httpUnavailable: 8,
  /** Every enabled channel failed for good (a rejected bot token). */
  channelsFailed: 9,
  /** A server the configuration names (Redis for `[memory] backend = "redis"`) cannot be reached. */
  serverUnavailable: 10
} as const

type Explained = { readonly code: number; readonly message: string }

const messageOf = (e: unknown) => (e as { message?: unknown }).message

/** The HTTP server's listen error, as the operator fixes it. */
const listenFailure = (cause: unknown) => {
  const { address, code, port } = (cause ?? {}) as { address?: string; code?: string; port?: number }
  const where = address === undefined ? "its address" : `${address}:${port}`
  const why = code === "EADDRINUSE"
    ? "the address is already in use"
    : code === "EACCES"
    ? "permission denied"
    : String(messageOf(cause) ?? cause)
  return `[http] cannot listen on ${where}: ${why}; stop the program using it, or set http.port (and http.host) to a free address`
}

const explain = (error: unknown): Option.Option<Explained> => {
  if (!Predicate.hasProperty(error, "_tag")) return Option.none()
  const line = (code: number) => Option.some({ code, message: String(messageOf(error)) })
  switch (error._tag) {
    case "ConfigError":
    case "LlmSetupError":
      return line(exitCodes.config)
    case "DataDirLocked":
      return line(exitCodes.dataDirLocked)
    case "DataDirUnwritable":
    case "DatabaseUnwritable":
      return line(exitCodes.dataDirUnwritable)
    case "DatabaseCorrupt":
      return line(exitCodes.databaseCorrupt)
    case "DatabaseLocked":
      return line(exitCodes.databaseLocked)
    case "ChannelsFailed":
      return line(exitCodes.channelsFailed)
    case "RedisUnavailable":
      return line(exitCodes.serverUnavailable)
    case "RunnerListenError":
      return line(exitCodes.httpUnavailable)
    case "ServeError":
      return Option.some({
        code: exitCodes.httpUnavailable,
        message: listenFailure((error as { cause?: unknown }).cause)
      })
  }
  // @effect/cli has already printed a usage error (through the console below).
  return ValidationError.isValidationError(error) && !ValidationError.isHelpRequested(error)
    ? Option.some({ code: exitCodes.usage, message: "" })
    : Option.none()
}

/**
 * @effect/cli prints its usage errors itself: they get the `minibot:` form on one line, with the
 * way out. Every other error line the program prints already starts with `minibot:`.
 */
const withUsageLines = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  Effect.consoleWith((console) =>
    Effect.withConsole(program, {
      ...console,
      error: (...args: ReadonlyArray<unknown>) => {
        const text = args.join(" ").replace(/\u001b\[[0-9;]*m/g, "").replace(/\s+/g, " ").trim()
        return text.startsWith("minibot: ") || text === ""
          ? console.error(...args)
          : console.error(`minibot: ${text}; run \`minibot --help\` for the commands and their options`)
      }
    })
  )

const program = cli(process.argv).pipe(
  withUsageLines,
  Effect.catchAll((error) =>
    Option.match(explain(error), {
      onNone: () => Effect.fail(error),
      onSome: ({ code, message }) =>
        Effect.zipRight(
          message === "" ? Effect.void : Console.error(`minibot: ${message}`),
          Effect.sync(() => void (process.exitCode = code))
        )
    })
  ),
  Effect.provide(NodeContext.layer)
)

/**
 * Calls `done` once everything written to stdout and stderr has left the process: `process.exit`
 * would otherwise cut a long message written to a pipe (`minibot check-config | head`). A reader
 * that went away (EPIPE) or never reads does not hold the exit for more than a few seconds.
 */
function afterOutputFlushed(done: () => void) {
  let pending = 2
  const timer = setTimeout(done, 5_000)
  const one = () => {
    if (--pending === 0) {
      clearTimeout(timer)
      done()
    }
  }
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", () => {})
    stream.write("", one)
  }
}

NodeRuntime.runMain(program, {
  disablePrettyLogger: true,
  teardown: (exit, onExit) => {
    const code = process.exitCode !== undefined && process.exitCode !== 0
      ? Number(process.exitCode)
      : Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
      ? 1
      : 0
    afterOutputFlushed(() => onExit(code))
  }
})
