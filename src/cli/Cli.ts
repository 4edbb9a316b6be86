/**
 * The `minibot` command line: `run` (the daemon), `console` (chat from the terminal) and
 * `check-config`. Each loads the configuration first, so a bad file is reported before anything
 * starts.
 */
import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Layer, Option } from "effect"
import * as Layers from "../app/Layers.ts"
import { chat, ConsoleChannel, stdinLines } from "../channels/console/ConsoleChannel.ts"
import { ConfigError, enabledChannels, type LoadedConfig, loadConfig, noChannelProblem } from "../config/ConfigLoader.ts"

const configOption = Options.text("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("Path of config.toml (default: $MINIBOT_CONFIG, then ./config.toml, else the environment)"),
  Options.optional
)

const load = (path: Option.Option<string>) => loadConfig(path, process.env)

/** The first log lines: where the config came from, and what in it is ignored. */
const announce = (loaded: LoadedConfig) =>
  Effect.gen(function*() {
    yield* loaded.source._tag === "File"
      ? Effect.logInfo(`configuration loaded from ${loaded.source.path}`)
      : Effect.logInfo("no config file: using built-in defaults and the environment")
    if (loaded.unusedKeys.length > 0) {
      yield* Effect.logWarning(`config keys not used by this version: ${loaded.unusedKeys.join(", ")}`)
    }
  }).pipe(Effect.annotateLogs("component", "config"))

/** If a graceful shutdown hangs, leave anyway rather than ignore the signal. Armed when it starts. */
const shutdownWatchdog = (loaded: LoadedConfig) =>
  Effect.onInterrupt(() =>
    Effect.zipRight(Effect.logInfo("shutting down: intake stops, running turns get a grace period"), Effect.sync(() => {
      const limit = Duration.seconds(loaded.config.runtime.shutdown_timeout_seconds)
      setTimeout(() => {
        process.stderr.write(`minibot: shutdown took longer than ${Duration.format(limit)}; exiting\n`)
        process.exit(1)
      }, Duration.toMillis(limit)).unref()
    }))
  )

const run = Command.make("run", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const loaded = yield* load(config)
    const channels = enabledChannels(loaded.config)
    if (channels.length === 0) {
      return yield* new ConfigError({ origin: loaded.source._tag === "File" ? loaded.source.path : "environment", problems: [noChannelProblem] })
    }
    const daemon = Effect.gen(function*() {
      yield* announce(loaded)
      yield* Effect.logInfo(`minibot started (channels: ${channels.join(", ")})`)
      return yield* Effect.never.pipe(shutdownWatchdog(loaded))
    })
    yield* daemon.pipe(
      Effect.provide(Layers.Daemon(loaded.config).pipe(Layer.provideMerge(Layers.Core))),
      Effect.provide(Layers.Configured(loaded))
    )
  })).pipe(Command.withDescription("Run the daemon with the channels the configuration enables"))

const once = Options.text("once").pipe(
  Options.withDescription("Send this one message, print the reply and exit"),
  Options.optional
)
const chatId = Options.text("chat").pipe(
  Options.withDescription("Conversation name: each name has its own history"),
  Options.withDefault("local")
)

const consoleCommand = Command.make("console", { config: configOption, once, chat: chatId }, (args) =>
  Effect.gen(function*() {
    const loaded = yield* load(args.config)
    const session = Effect.gen(function*() {
      yield* announce(loaded)
      if (Option.isSome(args.once)) {
        const channel = yield* ConsoleChannel
        const reply = yield* channel.ask(args.once.value, args.chat)
        yield* Console.log(reply.text)
        if (reply.kind === "error") process.exitCode = 1
        return
      }
      yield* chat(stdinLines, args.chat)
    })
    // The console speaks on stdout; logs go to stderr, quietly unless asked for.
    const quiet = { ...loaded, config: { ...loaded.config, runtime: { ...loaded.config.runtime, log_level: process.env.MINIBOT_LOG_LEVEL ? loaded.config.runtime.log_level : "warning" as const } } }
    yield* session.pipe(
      Effect.provide(ConsoleChannel.Default.pipe(Layer.provideMerge(Layers.Core))),
      Effect.provide(Layers.Configured(quiet))
    )
  })).pipe(Command.withDescription("Chat with minibot from the terminal (one line in, the reply out)"))

const checkConfig = Command.make("check-config", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const loaded = yield* load(config)
    const where = loaded.source._tag === "File" ? loaded.source.path : "built-in defaults and the environment"
    yield* Console.log(`configuration OK (${where})`)
    const channels = enabledChannels(loaded.config)
    yield* Console.log(channels.length > 0 ? `channels: ${channels.join(", ")}` : `warning: ${noChannelProblem}`)
    for (const key of loaded.unusedKeys) yield* Console.log(`warning: ${key} is not used by this version`)
  })).pipe(Command.withDescription("Validate the configuration and report every problem"))

const minibot = Command.make("minibot").pipe(
  Command.withSubcommands([run, consoleCommand, checkConfig]),
  Command.withDescription("A self-hosted personal AI assistant daemon")
)

export const cli = Command.run(minibot, { name: "minibot", version: "0.1.0" })
