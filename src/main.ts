/**
 * Entry point: run the `minibot` command line on Node. Configuration errors exit with code 2 and a
 * message naming every wrong key, never a stack trace.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit } from "effect"
import { cli } from "./cli/Cli.ts"

const exitCodes = { ConfigError: 2, DataDirLocked: 1, LlmSetupError: 2 } as const

const program = cli(process.argv).pipe(
  Effect.catchTags({
    ConfigError: (e) => Effect.zipRight(Console.error(`minibot: ${e.message}`), fail(exitCodes.ConfigError)),
    DataDirLocked: (e) => Effect.zipRight(Console.error(`minibot: ${e.message}`), fail(exitCodes.DataDirLocked)),
    LlmSetupError: (e) => Effect.zipRight(Console.error(`minibot: ${e.message}`), fail(exitCodes.LlmSetupError))
  }),
  Effect.provide(NodeContext.layer)
)

function fail(code: number) {
  return Effect.sync(() => {
    process.exitCode = code
  })
}

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
