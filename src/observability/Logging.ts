/**
 * One log line per event, on stderr (stdout belongs to the console channel's replies), in logfmt
 * by default or JSON. Every line carries `service`; secrets from the config are masked in the
 * finished line, so an SDK error that embeds a token in a URL cannot leak it.
 */
import { HashMap, Layer, Logger, LogLevel, Redacted } from "effect"
import type { LogLevelName, MinibotConfig } from "../config/Config.ts"

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

export const redactedMark = "<redacted>"

/** Telegram bot tokens have a recognisable shape; mask them even when the config does not know them. */
const botTokenPattern = /(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}/g

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** A function masking the given secret values (and anything shaped like a bot token) in a line. */
export const makeRedactor = (secrets: ReadonlyArray<string>): (line: string) => string => {
  const values = secrets.filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)
  const pattern = values.length > 0 ? new RegExp(values.map(escapeRegExp).join("|"), "g") : undefined
  return (line) => {
    const masked = pattern ? line.replace(pattern, redactedMark) : line
    return masked.replace(botTokenPattern, redactedMark)
  }
}

/** Every secret value of the config. */
export const configSecrets = (config: MinibotConfig): Array<string> =>
  [config.channels.telegram.bot_token, config.channels.telegram.webhook_secret, config.llm.api_key]
    .filter((s): s is Redacted.Redacted<string> => s !== undefined)
    .map((s) => Redacted.value(s))

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

const formatters: Record<LogFormat, Logger.Logger<unknown, string>> = {
  logfmt: Logger.logfmtLogger,
  json: Logger.jsonLogger,
  text: Logger.stringLogger
}

/** Errors as `Tag: message` (Effect would print an Error as `{}`). */
const renderError = (value: unknown): unknown => {
  if (!(value instanceof Error)) return value
  const name = (value as { _tag?: unknown })._tag ?? value.name
  return value.message ? `${String(name)}: ${value.message}` : String(name)
}

/** The formatted, redacted line logger, without its sink (tests capture the lines). */
export const lineLogger = (options: {
  readonly format: LogFormat
  readonly serviceName: string
  readonly secrets: ReadonlyArray<string>
}): Logger.Logger<unknown, string> => {
  const inner = formatters[options.format]
  const redact = makeRedactor(options.secrets)
  return Logger.make((input) =>
    redact(inner.log({
      ...input,
      message: Array.isArray(input.message) ? input.message.map(renderError) : renderError(input.message),
      annotations: HashMap.set(input.annotations, "service", options.serviceName)
    }))
  )
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

/** Replaces Effect's default logger with the configured one. */
export const layer = (config: MinibotConfig, options: LayerOptions = {}): Layer.Layer<never> => {
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"))
  return Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      lineLogger({
        format: logFormat(config),
        serviceName: config.logging.service_name,
        secrets: configSecrets(config)
      }).pipe(Logger.map(write))
    ),
    Logger.minimumLogLevel(options.quiet === true ? LogLevel.Warning : toLogLevel(config.runtime.log_level))
  )
}
