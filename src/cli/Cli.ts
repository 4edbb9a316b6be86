/**
 * The `minibot` command line: `run` (the daemon), `console` (chat from the terminal),
 * `check-config`, `pairing` (approve Telegram users), `jobs` (every person's jobs) and `status`
 * (the runners sharing Postgres). Each loads
 * the configuration first, so a bad file is reported before anything starts.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Clock, Console, Duration, Effect, Exit, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as Layers from "../app/Layers.ts"
import { chat, ConsoleChannel, stdinLines } from "../channels/console/ConsoleChannel.ts"
import { Pairing } from "../channels/telegram/Pairing.ts"
import { cancelRevokedJobs } from "../channels/telegram/TelegramRevocation.ts"
import { AppConfig, ConfigSource, TelegramSettings } from "../config/Config.ts"
import { checkRunnable, enabledChannels, loadConfig, type LoadedConfig } from "../config/ConfigLoader.ts"
import * as Lifecycle from "../observability/Lifecycle.ts"
import * as Logging from "../observability/Logging.ts"
import * as ClusterStatus from "../runtime/ClusterStatus.ts"
import { Draining } from "../runtime/Draining.ts"
import * as Job from "../scheduler/Job.ts"
import { JobStore } from "../scheduler/JobStore.ts"
import * as Database from "../storage/Database.ts"
import * as StorageCopy from "../storage/StorageCopy.ts"
import { printable } from "./Printable.ts"

const configOption = Options.text("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("Path of config.toml (default: $MINIBOT_CONFIG, then ./config.toml, else the environment)"),
  Options.optional
)

const load = (path: Option.Option<string>) => loadConfig(path, process.env)

/**
 * The start-up line (version, config source, data_dir, channels, model, LLM host), then what in
 * the configuration is ignored.
 */
const announce = (loaded: LoadedConfig, message: string) =>
  Effect.gen(function*() {
    yield* Effect.logInfo(message).pipe(
      Effect.annotateLogs(Lifecycle.startupFields(loaded, enabledChannels(loaded.config)))
    )
    if (loaded.unusedKeys.length > 0) {
      yield* Effect.logWarning(`config keys not used by this version: ${loaded.unusedKeys.join(", ")}`).pipe(
        Effect.annotateLogs("component", "config")
      )
    }
  })

/**
 * Armed when shutdown starts (at the signal, or when the daemon is interrupted otherwise): later
 * signals are ignored so cleanup finishes (the runtime would otherwise leave them to Node, which
 * kills the process), and a shutdown that takes longer than `shutdown_timeout_seconds`, counted
 * from the signal, exits anyway.
 */
const shutdownWatchdog = (loaded: LoadedConfig) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const arm = yield* Effect.once(Effect.zipRight(
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
    ))
    yield* Effect.forkScoped(Effect.zipRight((yield* Draining).started, arm))
    yield* Effect.addFinalizer((exit) => Exit.isInterrupted(exit) ? arm : Effect.void)
  }))

const run = Command.make("run", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const loaded = yield* load(config)
    yield* checkRunnable(loaded)
    const daemon = Layers.Running(enabledChannels(loaded.config), announce(loaded, "minibot started"))
    yield* Layer.launch(shutdownWatchdog(loaded).pipe(Layer.provide(daemon))).pipe(
      Lifecycle.logStopped,
      Effect.provide(Layer.merge(Layers.Configured(loaded), Draining.onSignals))
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
        yield* announce(loaded, "minibot console started")
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
    // Everything `run` would refuse fails here too, with the same message and exit code.
    yield* checkRunnable(loaded)
    const where = ConfigSource.$match(loaded.source, {
      File: ({ path }) => path,
      Environment: () => "built-in defaults and the environment",
      Inline: () => "built-in defaults and the environment"
    })
    yield* Console.log(`configuration OK (${where})`)
    yield* Console.log(`channels: ${enabledChannels(loaded.config).join(", ")}`)
    for (const { key, variable } of loaded.environment) yield* Console.log(`${key}: from ${variable}`)
    for (const key of loaded.unusedKeys) yield* Console.log(`warning: ${key} is not used by this version`)
  })).pipe(Command.withDescription("Validate the configuration and report every problem"))

/**
 * Runs `use` with the pairing store of the configured database. Only the database is opened (no
 * daemon, no data-dir lock), so it works while the daemon runs; the database serializes writes.
 */
const withPairing = <A, E>(path: Option.Option<string>, use: (pairing: Pairing) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const loaded = yield* load(path)
    fs.mkdirSync(loaded.config.runtime.data_dir, { recursive: true, mode: 0o700 })
    return yield* Effect.flatMap(Pairing, use).pipe(
      Effect.provide(Pairing.Default.pipe(Layer.provide(Database.unlocked(loaded.config)))),
      Effect.provide(Logging.layer(loaded.config, { quiet: true }))
    )
  })

/** Like `withPairing`, with the job store and the Telegram settings too (revocation cancels jobs). */
const withStores = <A, E>(
  path: Option.Option<string>,
  use: Effect.Effect<A, E, Pairing | JobStore | TelegramSettings>
) =>
  Effect.gen(function*() {
    const loaded = yield* load(path)
    fs.mkdirSync(loaded.config.runtime.data_dir, { recursive: true, mode: 0o700 })
    return yield* use.pipe(
      Effect.provide(
        Layer.mergeAll(Pairing.Default, JobStore.Default).pipe(Layer.provide(Database.unlocked(loaded.config)))
      ),
      Effect.provideService(TelegramSettings, loaded.config.channels.telegram),
      Effect.provide(Logging.layer(loaded.config, { quiet: true }))
    )
  })

/** The user as printed: the name is the stranger's own choice, so it is made printable first. */
const who = (user: { readonly userId: number; readonly userName: string | null }) =>
  `user ${user.userId}${user.userName === null ? "" : ` (${printable(user.userName)})`}`

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
    withStores(
      config,
      Effect.gen(function*() {
        const removed = yield* Effect.flatMap(Pairing, (pairing) => pairing.revoke(userId))
        if (!removed) {
          yield* Console.error(`minibot: user ${userId} is not an approved user`)
          return yield* Effect.sync(() => void (process.exitCode = 1))
        }
        yield* Console.log(`revoked: user ${userId} is no longer answered (unless listed in allowed_user_ids)`)
        // What they created stops with them; the daemon finds the jobs cancelled when they fall due.
        const cancelled = yield* cancelRevokedJobs()
        if (cancelled > 0) yield* Console.log(`cancelled ${cancelled} scheduled job(s) of people without access`)
      })
    )
).pipe(Command.withDescription("Remove a user approved by pairing"))

const pairingCommand = Command.make("pairing").pipe(
  Command.withSubcommands([pairingList, pairingApprove, pairingRevoke]),
  Command.withDescription("Telegram pairing (dm_policy = \"pairing\"): list and approve codes, revoke users")
)

const recurrenceText = (recurrence: Job.Recurrence) =>
  recurrence.kind === "interval"
    ? `every ${recurrence.seconds}s`
    : recurrence.kind === "cron"
    ? `cron ${printable(recurrence.expression, 40)}`
    : "once"

const jobsListLimit = 200

const jobsList = Command.make(
  "list",
  {
    config: configOption,
    owner: Options.text("owner").pipe(
      Options.withDescription("Only this owner's jobs (e.g. telegram:123456789, telegram:chat:-100123)"),
      Options.optional
    )
  },
  ({ config, owner }) =>
    withStores(
      config,
      Effect.gen(function*() {
        const store = yield* JobStore
        const { jobs, total } = yield* store.listAny(
          { activeOnly: false, limit: jobsListLimit, offset: 0 },
          Option.getOrUndefined(owner)
        )
        if (jobs.length === 0) return yield* Console.log("No scheduled jobs.")
        yield* Console.log("Scheduled jobs, newest first (cancel with `minibot jobs cancel ID`):")
        for (const job of jobs) {
          const next = job.nextRunAt === null ? "" : `  next ${Job.formatInZone(job.nextRunAt, job.timezone)}`
          yield* Console.log(
            `  ${job.id}  ${job.status}  ${job.strategy}  ${recurrenceText(job.recurrence)}${next}` +
              `  owner ${printable(job.ownerId, 40)}` +
              (job.userId === null ? "" : `  user ${printable(job.userId, 20)}`) +
              `  "${printable(job.payload)}"`
          )
        }
        if (total > jobs.length) yield* Console.log(`(${total - jobs.length} older jobs not shown)`)
      })
    )
).pipe(Command.withDescription("List every owner's scheduled jobs and tasks, or one owner's"))

const jobsCancel = Command.make(
  "cancel",
  { config: configOption, id: Args.text({ name: "ID" }) },
  ({ config, id }) =>
    withStores(
      config,
      Effect.gen(function*() {
        const store = yield* JobStore
        const found = yield* store.byId(id.trim())
        const refuse = (why: string) =>
          Effect.zipRight(Console.error(`minibot: ${why}`), Effect.sync(() => void (process.exitCode = 1)))
        if (Option.isNone(found)) return yield* refuse(`no scheduled job has the id ${printable(id, 40)}`)
        const job = found.value
        const cancelled = Job.isActive(job) && (yield* store.cancelAny(job.id, yield* Clock.currentTimeMillis))
        if (!cancelled) return yield* refuse(`job ${job.id} is not active (it is ${job.status})`)
        yield* Console.log(`cancelled: job ${job.id} of ${printable(job.ownerId, 40)} will not run again`)
      })
    )
).pipe(Command.withDescription("Cancel any owner's scheduled job or task; works beside a running daemon"))

const jobsCommand = Command.make("jobs").pipe(
  Command.withSubcommands([jobsList, jobsCancel]),
  Command.withDescription("Scheduled jobs and tasks of every person: list and cancel")
)

const statusCommand = Command.make("status", { config: configOption }, ({ config }) =>
  Effect.gen(function*() {
    const loaded = yield* load(config)
    if (loaded.config.storage.backend !== "postgres") {
      return yield* Console.log(
        "One process on SQLite: no runners to list ([storage] backend = \"postgres\" shares the work between several)."
      )
    }
    const view = yield* ClusterStatus.read.pipe(
      Effect.provide(Database.unlocked(loaded.config)),
      Effect.provide(Logging.layer(loaded.config, { quiet: true }))
    )
    const alive = view.runners.filter((r) => r.alive).length
    yield* Console.log(`Runners on Postgres: ${alive} alive`)
    for (const r of view.runners) {
      const state = r.alive ? "alive" : "gone "
      const shards = r.shards.length === 0
        ? "no shards"
        : `${r.shards.length} shards (${ClusterStatus.shardRanges(r.shards)})`
      yield* Console.log(
        `  ${printable(r.address, 80)}  ${state}  heartbeat ${(r.heartbeatAgeMs / 1000).toFixed(1)} s ago  ${shards}` +
          (r.pollsTelegram ? "  polls Telegram" : "")
      )
    }
    yield* Console.log(
      view.telegramPoller === null
        ? "No runner polls Telegram now (webhook mode, Telegram off, or a runner is taking over)."
        : `Telegram is polled by ${printable(view.telegramPoller, 80)}.`
    )
  })).pipe(
    Command.withDescription(
      "List the runners sharing the Postgres database, their shards, and which one polls Telegram"
    )
  )

const migrateStorage = Command.make(
  "migrate-storage",
  {
    config: configOption,
    to: Options.choice("to", ["postgres"]).pipe(Options.withDescription("Where to copy: postgres")),
    postgresUrl: Options.redacted("postgres-url").pipe(
      Options.withDescription("postgres://user:password@host:5432/db (default: [storage] postgres_url)"),
      Options.optional
    )
  },
  ({ config, postgresUrl }) =>
    Effect.gen(function*() {
      const loaded = yield* load(config)
      const url = Option.orElse(postgresUrl, () => Option.fromNullable(loaded.config.storage.postgres_url))
      if (Option.isNone(url)) {
        yield* Console.error("minibot: --postgres-url: required (or set [storage] postgres_url)")
        return yield* Effect.sync(() => void (process.exitCode = 2))
      }
      const copies = yield* StorageCopy.migrateToPostgres(loaded.config.runtime.data_dir, url.value).pipe(
        Effect.provide(Logging.layer(loaded.config, { quiet: true }))
      )
      for (const { inserted, read, skipped, table } of copies) {
        yield* Console.log(
          skipped !== undefined
            ? `  ${table}: ${skipped}`
            : `  ${table}: ${inserted} copied${read > inserted ? `, ${read - inserted} already there` : ""}`
        )
      }
      yield* Console.log(
        "done: set [storage] backend = \"postgres\" and postgres_url, then start the runners (README: Scaling out)"
      )
    }).pipe(Effect.catchTag("StorageCopyError", (e) =>
      Effect.zipRight(
        Console.error(`minibot: ${e.message}`),
        Effect.sync(() => void (process.exitCode = 1))
      )))
).pipe(Command.withDescription("Copy the SQLite database under data_dir to Postgres (idempotent, resumable)"))

const backup = Command.make(
  "backup",
  {
    config: configOption,
    out: Options.text("out").pipe(
      Options.withDescription("File to write (default: data_dir/backups/minibot-<time>.db)"),
      Options.optional
    )
  },
  ({ config, out }) =>
    Effect.gen(function*() {
      const loaded = yield* load(config)
      const { runtime, storage } = loaded.config
      if (storage.backend === "postgres") {
        yield* Console.error("minibot: storage.backend is \"postgres\": back it up with pg_dump")
        return yield* Effect.sync(() => void (process.exitCode = 1))
      }
      const file = Option.getOrElse(out, () => StorageCopy.defaultBackupPath(runtime.data_dir, new Date()))
      const written = yield* StorageCopy.backup(runtime.data_dir, file)
      yield* Console.log(`backup written: ${written.file} (${written.bytes} bytes)`)
    }).pipe(Effect.catchTag("StorageCopyError", (e) =>
      Effect.zipRight(
        Console.error(`minibot: ${e.message}`),
        Effect.sync(() => void (process.exitCode = 1))
      )))
).pipe(Command.withDescription("A consistent copy of the SQLite database, taken while the daemon runs"))

const minibot = Command.make("minibot").pipe(
  Command.withSubcommands([
    run,
    consoleCommand,
    checkConfig,
    pairingCommand,
    jobsCommand,
    statusCommand,
    migrateStorage,
    backup
  ]),
  Command.withDescription("A self-hosted personal AI assistant daemon")
)

export const cli = Command.run(minibot, { name: "minibot", version: Lifecycle.version })
