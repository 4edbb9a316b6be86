/**
 * The `minibot` command line: `run` (the daemon), `console` (chat from the terminal),
 * `check-config` and `pairing` (approve Telegram users). Each loads the configuration first, so a
 * bad file is reported before anything starts.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as Layers from "../app/Layers.ts"
import { chat, ConsoleChannel, stdinLines } from "../channels/console/ConsoleChannel.ts"
import { Pairing, printableName } from "../channels/telegram/Pairing.ts"
import { AppConfig, ConfigSource } from "../config/Config.ts"
import {
  ConfigError,
  enabledChannels,
  loadConfig,
  type LoadedConfig,
  noChannelProblem
} from "../config/ConfigLoader.ts"
import * as Logging from "../observability/Logging.ts"
import * as Database from "../storage/Database.ts"

const configOption = Options.text("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("Path of config.toml (default: $MINIBOT_CONFIG, then ./config.toml, else the environment)"),
  Options.optional
)

const load = (path: Option.Option<string>) => loadConfig(path, process.env)

/** The first log lines: where the config came from, and what in it is ignored. */
const announce = (loaded: LoadedConfig) =>
  Effect.gen(function*() {
    yield* ConfigSource.$match(loaded.source, {
      File: ({ path }) => Effect.logInfo(`configuration loaded from ${path}`),
      Environment: () => Effect.logInfo("no config file: using built-in defaults and the environment"),
      Inline: () => Effect.logInfo("no config file: using built-in defaults and the environment")
    })
    if (loaded.unusedKeys.length > 0) {
      yield* Effect.logWarning(`config keys not used by this version: ${loaded.unusedKeys.join(", ")}`)
    }
  }).pipe(Effect.annotateLogs("component", "config"))

/**
 * Armed when shutdown starts: later signals are ignored so cleanup finishes (the runtime would
 * otherwise leave them to Node, which kills the process), and a shutdown that hangs exits anyway.
 */
const shutdownWatchdog = (loaded: LoadedConfig) =>
  Effect.onInterrupt(() =>
    Effect.zipRight(
      Effect.logInfo("shutting down: intake stops, running turns get a grace period"),
      Effect.sync(() => {
        const again = () => process.stderr.write("minibot: already shutting down\n")
        process.on("SIGINT", again)
        process.on("SIGTERM", again)
        const limit = Duration.seconds(loaded.config.runtime.shutdown_timeout_seconds)
        setTimeout(() => {
          process.stderr.write(`minibot: shutdown took longer than ${Duration.format(limit)}; exiting\n`)
          process.exit(1)
        }, Duration.toMillis(limit)).unref()
      })
    )
  )

const run = Command.make("run", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const loaded = yield* load(config)
    const channels = enabledChannels(loaded.config)
    if (channels.length === 0) {
      return yield* new ConfigError({
        origin: loaded.source._tag === "File" ? loaded.source.path : "environment",
        problems: [noChannelProblem]
      })
    }
    const daemon = Effect.gen(function*() {
      yield* announce(loaded)
      yield* Effect.logInfo(`minibot started (channels: ${channels.join(", ")})`)
      return yield* Effect.never.pipe(shutdownWatchdog(loaded))
    })
    yield* daemon.pipe(
      Effect.provide(Layers.Daemon),
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

const consoleCommand = Command.make(
  "console",
  { config: configOption, once, chat: chatId },
  (args) =>
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
      const logging = Logging.layer(loaded.config, { quiet: !process.env.MINIBOT_LOG_LEVEL })
      yield* session.pipe(
        Effect.provide(Layers.ConsoleSession),
        Effect.provide(Layer.merge(AppConfig.loaded(loaded), logging))
      )
    })
).pipe(Command.withDescription("Chat with minibot from the terminal (one line in, the reply out)"))

const checkConfig = Command.make("check-config", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const loaded = yield* load(config)
    const where = ConfigSource.$match(loaded.source, {
      File: ({ path }) => path,
      Environment: () => "built-in defaults and the environment",
      Inline: () => "built-in defaults and the environment"
    })
    yield* Console.log(`configuration OK (${where})`)
    const channels = enabledChannels(loaded.config)
    yield* Console.log(channels.length > 0 ? `channels: ${channels.join(", ")}` : `warning: ${noChannelProblem}`)
    for (const key of loaded.unusedKeys) yield* Console.log(`warning: ${key} is not used by this version`)
  })).pipe(Command.withDescription("Validate the configuration and report every problem"))

/**
 * Runs `use` with the pairing store of the configured database. Only the database is opened (no
 * daemon, no data-dir lock), so it works while the daemon runs; the database serializes writes.
 */
const withPairing = <A, E>(path: Option.Option<string>, use: (pairing: Pairing) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const loaded = yield* load(path)
    fs.mkdirSync(loaded.config.runtime.data_dir, { recursive: true })
    return yield* Effect.flatMap(Pairing, use).pipe(
      Effect.provide(Pairing.Default.pipe(Layer.provide(Database.unlocked(loaded.config)))),
      Effect.provide(Logging.layer(loaded.config, { quiet: true }))
    )
  })

/** The user as printed: the name is the stranger's own choice, so it is made printable first. */
const who = (user: { readonly userId: number; readonly userName: string | null }) =>
  `user ${user.userId}${user.userName === null ? "" : ` (${printableName(user.userName)})`}`

const pairingList = Command.make(
  "list",
  { config: configOption },
  ({ config }) =>
    withPairing(config, (pairing) =>
      Effect.gen(function*() {
        const pending = yield* pairing.pending
        const paired = yield* pairing.paired
        const now = Date.now()
        yield* Console.log(
          pending.length === 0
            ? "No pending pairing requests."
            : "Pending pairing requests (approve with `minibot pairing approve CODE`):"
        )
        for (const p of pending) {
          yield* Console.log(
            `  ${p.code}  ${who(p)}  expires in ${Math.max(1, Math.ceil((p.expiresAt - now) / 60_000))} min`
          )
        }
        yield* Console.log(paired.length === 0 ? "No approved users." : "Approved users:")
        for (const u of paired) yield* Console.log(`  ${who(u)}  approved ${new Date(u.approvedAt).toISOString()}`)
      }))
).pipe(Command.withDescription("Show pending pairing codes and approved users"))

const pairingApprove = Command.make(
  "approve",
  { config: configOption, code: Args.text({ name: "CODE" }) },
  ({ code, config }) =>
    withPairing(config, (pairing) =>
      pairing.approve(code).pipe(
        Effect.flatMap((p) => Console.log(`approved: ${who(p)} may now talk to the bot`)),
        Effect.catchTag(
          "PairingCodeUnknown",
          (e) => Effect.zipRight(Console.error(`minibot: ${e.message}`), Effect.sync(() => void (process.exitCode = 1)))
        )
      ))
).pipe(Command.withDescription("Allow the Telegram user who was given this pairing code"))

const pairingRevoke = Command.make(
  "revoke",
  { config: configOption, userId: Args.integer({ name: "USER_ID" }) },
  ({ config, userId }) =>
    withPairing(config, (pairing) =>
      pairing.revoke(userId).pipe(
        Effect.flatMap((removed) =>
          removed
            ? Console.log(`revoked: user ${userId} is no longer answered (unless listed in allowed_user_ids)`)
            : Effect.zipRight(
              Console.error(`minibot: user ${userId} is not an approved user`),
              Effect.sync(() => void (process.exitCode = 1))
            )
        )
      ))
).pipe(Command.withDescription("Remove a user approved by pairing"))

const pairingCommand = Command.make("pairing").pipe(
  Command.withSubcommands([pairingList, pairingApprove, pairingRevoke]),
  Command.withDescription("Telegram pairing (dm_policy = \"pairing\"): list and approve codes, revoke users")
)

const minibot = Command.make("minibot").pipe(
  Command.withSubcommands([run, consoleCommand, checkConfig, pairingCommand]),
  Command.withDescription("A self-hosted personal AI assistant daemon")
)

export const cli = Command.run(minibot, { name: "minibot", version: "0.1.0" })
