/**
 * Finds, reads and validates the configuration: `--config`, then `MINIBOT_CONFIG`, then
 * `./config.toml`, else built-in defaults plus the environment. Every problem is reported at once,
 * each with the key path it concerns.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Either, Option, ParseResult, Redacted, Schema } from "effect"
import * as Toml from "smol-toml"
import { ConfigSource, knownChannels, MinibotConfig } from "./Config.ts"

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  /** The file (or "environment") the problems are in. */
  origin: Schema.String,
  problems: Schema.Array(Schema.String)
}) {
  override get message() {
    return `invalid configuration (${this.origin}):\n${this.problems.map((p) => `  ${p}`).join("\n")}`
  }
}

export interface LoadedConfig {
  readonly config: MinibotConfig
  readonly source: ConfigSource
  readonly unusedKeys: ReadonlyArray<string>
}

export type Env = Readonly<Record<string, string | undefined>>

const defaultPath = "config.toml"

/** Replaces `${NAME}` in every string of a parsed TOML document; a missing variable is an error. */
export const interpolateEnv = (
  value: unknown,
  env: Env,
  path: ReadonlyArray<string> = [],
  problems: Array<string> = []
): unknown => {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name]
      if (found === undefined) {
        problems.push(`${path.join(".")}: environment variable ${name} is not set`)
        return ""
      }
      return found
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, String(i)], problems))
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, [...path, k], problems)])
    )
  }
  return value
}

/** The config a user gets with no file: defaults plus the documented environment variables. */
export const configFromEnv = (env: Env): Either.Either<Record<string, unknown>, Array<string>> => {
  const problems: Array<string> = []
  const telegram: Record<string, unknown> = {}
  const llm: Record<string, unknown> = {}
  const runtime: Record<string, unknown> = {}
  if (env.TELEGRAM_BOT_TOKEN) {
    telegram.enabled = true
    telegram.bot_token = env.TELEGRAM_BOT_TOKEN
  }
  if (env.MINIBOT_ALLOWED_USER_IDS) {
    const ids = env.MINIBOT_ALLOWED_USER_IDS.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
    const bad = ids.filter((s) => !/^-?\d+$/.test(s))
    if (bad.length > 0) {
      problems.push(
        `MINIBOT_ALLOWED_USER_IDS: expected comma-separated numeric user ids, got ${JSON.stringify(bad.join(","))}`
      )
    }
    telegram.allowed_user_ids = ids.filter((s) => /^-?\d+$/.test(s)).map(Number)
  }
  if (env.OPENAI_API_KEY) llm.api_key = env.OPENAI_API_KEY
  if (env.OPENAI_BASE_URL) llm.base_url = env.OPENAI_BASE_URL
  if (env.MINIBOT_MODEL) llm.model = env.MINIBOT_MODEL
  if (env.MINIBOT_DATA_DIR) runtime.data_dir = env.MINIBOT_DATA_DIR
  if (env.MINIBOT_LOG_LEVEL) runtime.log_level = env.MINIBOT_LOG_LEVEL
  return problems.length > 0
    ? Either.left(problems)
    : Either.right({ runtime, llm, channels: { telegram } })
}

/** `Expected "a", actual "x"` issues of one literal union collapse into one line. */
const formatIssues = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): Array<string> => {
  const byPath = new Map<string, { expected: Array<string>; actual: string | undefined; other: Array<string> }>()
  for (const issue of issues) {
    const key = issue.path.map(String).join(".") || "(root)"
    const entry = byPath.get(key) ?? { expected: [], actual: undefined, other: [] }
    byPath.set(key, entry)
    const typeMismatch = /^Expected (.+), actual (.+)$/s.exec(issue.message)
    if (issue._tag === "Missing") entry.other.push("is required")
    else if (typeMismatch) {
      entry.expected.push(typeMismatch[1]!)
      entry.actual = typeMismatch[2]!
    } else entry.other.push(issue.message)
  }
  const lines: Array<string> = []
  for (const [path, entry] of byPath) {
    if (entry.expected.length > 0) {
      const expected = entry.expected.length > 1 ? `one of ${entry.expected.join(" | ")}` : entry.expected[0]
      lines.push(`${path}: expected ${expected}, got ${entry.actual}`)
    }
    for (const other of entry.other) lines.push(`${path}: ${other}`)
  }
  return lines
}

/** Validates a parsed document: the config, the keys it ignores, or every problem. */
export const decodeConfig = (
  raw: unknown
): Either.Either<{ config: MinibotConfig; unusedKeys: Array<string> }, Array<string>> => {
  const problems: Array<string> = []
  const unusedKeys: Array<string> = []
  const channels = (raw as { channels?: unknown } | null)?.channels
  if (channels !== null && typeof channels === "object") {
    for (const [name, table] of Object.entries(channels)) {
      if ((knownChannels as ReadonlyArray<string>).includes(name)) continue
      if ((table as { enabled?: unknown } | null)?.enabled === true) {
        problems.push(
          `channels.${name}.enabled: the ${name} channel is not supported by this version; set enabled = false`
        )
      }
    }
  }
  const strict = Schema.decodeUnknownEither(MinibotConfig, { errors: "all", onExcessProperty: "error" })(raw)
  if (Either.isLeft(strict)) {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(strict.left)
    for (const issue of issues) {
      if (issue._tag !== "Unexpected") continue
      const path = issue.path.map(String)
      // Disabled tables of channels this version lacks are accepted silently (the seed has one).
      if (!(path[0] === "channels" && path.length === 2)) unusedKeys.push(path.join("."))
    }
    problems.push(...formatIssues(issues.filter((i) => i._tag !== "Unexpected")))
  }
  if (problems.length > 0) return Either.left(problems)
  return Schema.decodeUnknownEither(MinibotConfig)(raw).pipe(
    Either.map((config) => ({ config, unusedKeys })),
    Either.mapLeft((e) => formatIssues(ParseResult.ArrayFormatter.formatErrorSync(e)))
  )
}

/** Cross-key rules a schema cannot express. */
const checkConsistency = (config: MinibotConfig): Array<string> => {
  const problems: Array<string> = []
  const tg = config.channels.telegram
  if (tg.enabled && (tg.bot_token === undefined || Redacted.value(tg.bot_token).trim() === "")) {
    problems.push(
      "channels.telegram.bot_token: required when the telegram channel is enabled (or set TELEGRAM_BOT_TOKEN)"
    )
  }
  if (tg.enabled && tg.mode === "webhook") {
    if (!tg.webhook_url) problems.push("channels.telegram.webhook_url: required when mode = \"webhook\"")
    else if (!/^https?:\/\//.test(tg.webhook_url)) {
      problems.push(`channels.telegram.webhook_url: expected an http(s) URL, got ${JSON.stringify(tg.webhook_url)}`)
    }
    if (!config.http.enabled) {
      problems.push("http.enabled: must be true in webhook mode (the webhook is served by the [http] server)")
    }
  }
  if (
    tg.enabled && tg.webhook_secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(Redacted.value(tg.webhook_secret))
  ) {
    problems.push("channels.telegram.webhook_secret: Telegram accepts 1 to 256 characters of A-Z, a-z, 0-9, _ and -")
  }
  if (
    config.storage.backend === "postgres" &&
    (config.storage.postgres_url === undefined || Redacted.value(config.storage.postgres_url).trim() === "")
  ) {
    problems.push("storage.postgres_url: required when backend = \"postgres\"")
  }
  if (!/^https?:\/\//.test(config.llm.base_url)) {
    problems.push(`llm.base_url: expected an http(s) URL, got ${JSON.stringify(config.llm.base_url)}`)
  }
  return problems
}

const validate = (raw: unknown, origin: string) =>
  Either.flatMap(decodeConfig(raw), (decoded) => {
    const problems = checkConsistency(decoded.config)
    return problems.length > 0 ? Either.left(problems) : Either.right(decoded)
  }).pipe(Either.mapLeft((problems) => new ConfigError({ origin, problems })))

/** Parses TOML text (with `${ENV}` interpolation) into a validated config. */
export const parseConfigText = (text: string, env: Env, origin: string) =>
  Effect.gen(function*() {
    const parsed = yield* Effect.try({
      try: () => Toml.parse(text),
      catch: (e) => {
        const { message, line, column } = e as Error & { line?: number; column?: number }
        const where = line === undefined ? "" : ` at line ${line}, column ${column}`
        const reason = message.split("\n")[0]!.replace(/^Invalid TOML document: /, "")
        return new ConfigError({ origin, problems: [`TOML syntax${where}: ${reason}`] })
      }
    })
    const problems: Array<string> = []
    const raw = interpolateEnv(parsed, env, [], problems)
    if (problems.length > 0) return yield* new ConfigError({ origin, problems })
    return yield* validate(raw, origin)
  })

/**
 * Loads the configuration the way the CLI documents: an explicitly named file must exist;
 * `./config.toml` is used when present; otherwise defaults plus the environment.
 */
export const loadConfig = Effect.fn("ConfigLoader.loadConfig")(function*(flagPath: Option.Option<string>, env: Env) {
  const fs = yield* FileSystem.FileSystem
  const explicit = Option.orElse(
    flagPath,
    () => Option.fromNullable(env.MINIBOT_CONFIG).pipe(Option.filter((p) => p !== ""))
  )
  const path = Option.isSome(explicit)
    ? explicit.value
    : (yield* fs.exists(defaultPath).pipe(Effect.orElseSucceed(() => false)))
    ? defaultPath
    : undefined
  if (path === undefined) {
    const raw = yield* Either.mapLeft(
      configFromEnv(env),
      (problems) => new ConfigError({ origin: "environment", problems })
    )
    const decoded = yield* validate(raw, "environment")
    return { ...decoded, source: ConfigSource.Environment() } satisfies LoadedConfig
  }
  const text = yield* fs.readFileString(path).pipe(
    Effect.mapError((e) =>
      new ConfigError({
        origin: path,
        problems: [
          e._tag === "SystemError" && e.reason === "NotFound"
            ? `config file not found${
              Option.isSome(flagPath) ? " (given by --config)" : env.MINIBOT_CONFIG ? " (given by MINIBOT_CONFIG)" : ""
            }`
            : `cannot read the config file: ${e.message}`
        ]
      })
    )
  )
  const decoded = yield* parseConfigText(text, env, path)
  return { ...decoded, source: ConfigSource.File({ path }) } satisfies LoadedConfig
})

/** Channels that will start with this config; empty means the daemon has nothing to do. */
export const enabledChannels = (config: MinibotConfig): Array<"telegram" | "console"> => [
  ...(config.channels.telegram.enabled ? ["telegram" as const] : []),
  ...(config.channels.console.enabled ? ["console" as const] : [])
]

export const noChannelProblem =
  "no channel is enabled. Set TELEGRAM_BOT_TOKEN (and OPENAI_API_KEY) in the environment, or in config.toml set " +
  "[channels.telegram] enabled = true with bot_token = \"...\" (or [channels.console] enabled = true); " +
  "`minibot console` chats from the terminal without any channel"
