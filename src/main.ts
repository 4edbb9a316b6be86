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

NodeRuntime.runMain(program, {
  disablePrettyLogger: true,
  teardown: (exit, onExit) =>
    onExit(
      process.exitCode !== undefined && process.exitCode !== 0
        ? Number(process.exitCode)
        : Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
        ? 1
        : 0
    )
})
