/**
 * One log line per event, on stderr (stdout belongs to the console channel's replies), in logfmt
 * by default, JSON, or plain text. Every line carries `service`; times are ISO 8601; fiber ids are
 * left out (they mean nothing to an operator). Secrets from the config are masked in the finished
 * line, in every spelling, so an SDK error that embeds a token in a URL cannot leak it. A newline
 * in a value is escaped in every format, so a message cannot forge a line.
 */
import {
  Cause,
  Context,
  Effect,
  HashMap,
  Inspectable,
  Layer,
  List,
  Logger,
  LogLevel,
  Option,
  Redacted,
  Runtime
} from "effect"
import type { LogLevelName, MinibotConfig } from "../config/Config.ts"
import { makeRedactor } from "./Redaction.ts"

export { makeRedactor, redactedMark } from "./Redaction.ts"

const levels: Record<LogLevelName, LogLevel.LogLevel> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}
export const toLogLevel = (name: LogLevelName): LogLevel.LogLevel => levels[name]

/** The password inside a server URL (`redis://:pw@host`, `nats://user:pw@host`), decoded. */
const passwordIn = (url: string): string => {
  const raw = URL.canParse(url) ? new URL(url).password : ""
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/**
 * The Redis password, given alone or inside `memory.redis.url`, the NATS one inside `bus.nats.url`,
 * and one inside the OTLP `telemetry.endpoint`.
 */
const serverSecrets = ({ bus, memory: { redis }, telemetry }: MinibotConfig): Array<string> =>
  [
    redis.password === undefined ? "" : Redacted.value(redis.password),
    passwordIn(redis.url),
    passwordIn(Redacted.value(bus.nats.url)),
    passwordIn(telemetry.endpoint)
  ].filter((s) => s !== "")

/** Every secret value of the config. */
export const configSecrets = (config: MinibotConfig): Array<string> =>
  [
    config.channels.telegram.bot_token,
    config.channels.telegram.webhook_secret,
    config.llm.api_key,
    config.storage.postgres_url,
    config.http.api_token,
    ...config.webhooks.map((webhook) => webhook.secret),
    ...Object.values(config.telemetry.headers)
  ]
    .filter((s): s is Redacted.Redacted<string> => s !== undefined)
    .map((s) => Redacted.value(s))
    .concat(serverSecrets(config))

export type LogFormat = "logfmt" | "json" | "text"

/** `[logging.logfmt] enabled` wins (the seed's rule), then `json`, then plain text. */
export const logFormat = (config: MinibotConfig): LogFormat =>
  config.logging.logfmt.enabled
    ? "logfmt"
    : config.logging.json
    ? "json"
    : config.logging.structured
    ? "logfmt"
    : "text"

/** Errors as `Tag: message` (Effect would print an Error as `{}`); dates as ISO. */
const renderValue = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Error) {
    const name = (value as { _tag?: unknown })._tag ?? value.name
    return value.message ? `${String(name)}: ${value.message}` : String(name)
  }
  return Inspectable.toStringUnknown(value, 0)
}

/** A time kept as epoch milliseconds (`receivedAt`, `due_at`): written as ISO like the timestamp. */
const isEpochMillis = (key: string, value: unknown): value is number =>
  typeof value === "number" && /(At|_at)$/.test(key) && value > 1e12 && value < 1e14

/** The fields of one line, in order; library annotations that repeat ours are renamed. */
const fields = (input: Logger.Logger.Options<unknown>, serviceName: string): Array<[string, string]> => {
  const out: Array<[string, string]> = [
    ["timestamp", input.date.toISOString()],
    ["level", input.logLevel.label]
  ]
  // `Effect.log("a", b)` gives several parts: one message field keeps every format's keys unique.
  const parts = Array.isArray(input.message) ? input.message : [input.message]
  out.push(["message", parts.map(renderValue).join(" ")])
  if (!Cause.isEmptyType(input.cause)) out.push(["cause", Cause.pretty(input.cause, { renderErrorCause: true })])
  const now = input.date.getTime()
  for (const span of List.toArray(input.spans)) out.push([span.label, `${now - span.startTime}ms`])
  out.push(["service", serviceName])
  const taken = new Set(out.map(([k]) => k))
  for (const [key, value] of input.annotations) {
    out.push([taken.has(key) ? `${key}_` : key, renderValue(isEpochMillis(key, value) ? new Date(value) : value)])
  }
  return out
}

const plainValue = /^[^\s"=\\]*$/
/** `"` and `\` escaped, and every control character (newlines first of all) written as an escape. */
const escapeText = (s: string) => JSON.stringify(s).slice(1, -1)

const formatters: Record<LogFormat, (pairs: Array<[string, string]>) => string> = {
  logfmt: (pairs) => pairs.map(([k, v]) => `${k}=${plainValue.test(v) ? v : JSON.stringify(v)}`).join(" "),
  json: (pairs) => JSON.stringify(Object.fromEntries(pairs)),
  text: (pairs) => pairs.map(([k, v]) => `${k}=${plainValue.test(v) ? v : `"${escapeText(v)}"`}`).join(" ")
}

/**
 * Internal messages of @effect/cluster (shard acquisition retries, shutdown notes) are written at
 * debug whatever their level, errors excepted: at info they read like failures of minibot.
 */
const libraryLevel = (input: Logger.Logger.Options<unknown>): LogLevel.LogLevel => {
  const pkg = HashMap.get(input.annotations, "package")
  return pkg._tag === "Some" && pkg.value === "@effect/cluster" && LogLevel.lessThan(input.logLevel, LogLevel.Error)
    ? LogLevel.Debug
    : input.logLevel
}

interface LineOptions {
  readonly format: LogFormat
  readonly serviceName: string
  readonly secrets: ReadonlyArray<string>
}

/** The level a line is written at, and the line. */
const renderer = (options: LineOptions) => {
  const format = formatters[options.format]
  const redact = makeRedactor(options.secrets)
  return (input: Logger.Logger.Options<unknown>) => {
    const logLevel = libraryLevel(input)
    return { logLevel, line: redact(format(fields({ ...input, logLevel }, options.serviceName))) }
  }
}

/** The formatted, redacted line logger, without its sink (tests capture the lines). */
export const lineLogger = (options: LineOptions): Logger.Logger<unknown, string> => {
  const render = renderer(options)
  return Logger.make((input) => render(input).line)
}

// ---------------------------------------------------------------------------------------------
// The recent lines, for `GET /api/logs`

/** One written line, already redacted, with what the API filters on. */
export interface LogEntry {
  /** Epoch ms. */
  readonly at: number
  readonly level: LogLevelName
  /** The `component` annotation, if any. */
  readonly component: string | null
  readonly line: string
}

/** Lines kept, and the longest line kept whole (a cause's stack can be long). */
const ringCapacity = 1000
const maxLineLength = 8192

const levelNames: ReadonlyArray<[LogLevel.LogLevel, LogLevelName]> = Object.entries(levels).map((
  [name, level]
) => [level, name as LogLevelName])
const nameOf = (level: LogLevel.LogLevel): LogLevelName =>
  levelNames.find(([l]) => l._tag === level._tag)?.[1] ?? "info"

/** The last lines written, in memory, oldest first; bounded in lines and in each line's length. */
export class LogRing extends Context.Tag("minibot/LogRing")<LogRing, {
  readonly push: (input: Logger.Logger.Options<unknown>, logLevel: LogLevel.LogLevel, line: string) => void
  readonly entries: () => ReadonlyArray<LogEntry>
}>() {
  static readonly make = (capacity = ringCapacity): LogRing["Type"] => {
    const entries: Array<LogEntry> = []
    return {
      push: (input, logLevel, line) => {
        const component = HashMap.get(input.annotations, "component").pipe(
          Option.map(String),
          Option.getOrNull
        )
        entries.push({
          at: input.date.getTime(),
          level: nameOf(logLevel),
          component,
          line: line.length > maxLineLength ? `${line.slice(0, maxLineLength)}…` : line
        })
        if (entries.length > capacity) entries.splice(0, entries.length - capacity)
      },
      entries: () => entries.slice()
    }
  }

  /** `logger`'s lines also kept in `ring`. */
  static readonly recording = (logger: Logger.Logger<unknown, string>, ring: LogRing["Type"]) =>
    Logger.make<unknown, string>((input) => {
      const line = logger.log(input)
      ring.push(input, input.logLevel, line)
      return line
    })
}

export interface LayerOptions {
  /**
   * Warnings and errors only, whatever `[runtime] log_level` says: for commands that talk on the
   * terminal (`minibot console`, `minibot pairing`), where info lines would drown the dialogue.
   */
  readonly quiet?: boolean
  /** Where finished lines go; stderr by default (stdout belongs to the console channel). */
  readonly write?: (line: string) => void
}

/** Replaces Effect's default logger with the configured one; the lines written are also kept in `LogRing`. */
export const layer = (config: MinibotConfig, options: LayerOptions = {}): Layer.Layer<LogRing> => {
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"))
  const minimum = options.quiet === true ? LogLevel.Warning : toLogLevel(config.runtime.log_level)
  const render = renderer({
    format: logFormat(config),
    serviceName: config.logging.service_name,
    secrets: configSecrets(config)
  })
  const ring = LogRing.make()
  const logger = Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.make((input) => {
        const { line, logLevel } = render(input)
        // Library messages lowered to debug are filtered again.
        if (LogLevel.lessThan(logLevel, minimum)) return
        write(line)
        ring.push(input, logLevel, line)
      })
    ),
    Logger.minimumLogLevel(minimum)
  )
  return Layer.mergeAll(logger, processWarnings.pipe(Layer.provide(logger)), Layer.succeed(LogRing, ring))
}

/**
 * Node writes process warnings straight to stderr, past the logger and its format. They go through
 * the logger instead: a deprecation at debug (a library's own business, such as grammY's HTTP client
 * calling `url.parse`, which at every start would read like a fault of minibot), any other warning
 * at warning. Node's own printer is put back when the layer closes.
 */
const processWarnings = Layer.scopedDiscard(Effect.gen(function*() {
  const runSync = Runtime.runSync(yield* Effect.runtime<never>())
  const listener = (warning: Error & { readonly code?: string }) =>
    runSync(
      (warning.name === "DeprecationWarning" ? Effect.logDebug : Effect.logWarning)(warning.message).pipe(
        Effect.annotateLogs({ package: "node", warning: warning.name, ...(warning.code ? { code: warning.code } : {}) })
      )
    )
  const nodePrinters = process.listeners("warning")
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      process.removeAllListeners("warning")
      process.on("warning", listener)
    }),
    () =>
      Effect.sync(() => {
        process.off("warning", listener)
        for (const printer of nodePrinters) process.on("warning", printer)
      })
  )
}))
