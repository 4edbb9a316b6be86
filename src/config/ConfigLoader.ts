/**
 * Finds, reads and validates the configuration: `--config`, then `MINIBOT_CONFIG`, then
 * `./config.toml`, else built-in defaults; the environment variables of ConfigEnvironment.ts
 * override either. Every problem is reported at once, each with the key path it concerns; an
 * unknown key is an error with the key it probably meant; no problem line shows a secret.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Either, Option, ParseResult, Redacted, Schema } from "effect"
import * as Toml from "smol-toml"
import { webhookProblems } from "../webhooks/WebhookKinds.ts"
import { ConfigSource, knownChannels, MinibotConfig } from "./Config.ts"
import { applyEnvironment, type Env, type EnvironmentKey, environmentKeys } from "./ConfigEnvironment.ts"
import { isSecretKey, keyPath, kindOf, presentable, secretValues, suggest, valueAt } from "./ConfigProblems.ts"

export { type Env, environmentKeys } from "./ConfigEnvironment.ts"

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
  /** Environment variables that overrode a key (or supplied it). */
  readonly environment: ReadonlyArray<EnvironmentKey>
}

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
        problems.push(`${keyPath(path)}: environment variable ${name} is not set`)
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
export const configFromEnv = (env: Env): Either.Either<Record<string, unknown>, Array<string>> =>
  Either.map(applyEnvironment({}, env, { fileLess: true }), (o) => o.raw)

/** `Expected "a", actual "x"` issues of one literal union collapse into one line. */
const formatIssues = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>, raw: unknown): Array<string> => {
  const byPath = new Map<string, { expected: Array<string>; actual: string | undefined; other: Array<string> }>()
  for (const issue of issues) {
    const key = keyPath(issue.path) || "(root)"
    const entry = byPath.get(key) ?? { expected: [], actual: undefined, other: [] }
    byPath.set(key, entry)
    const typeMismatch = /^Expected (.+), actual (.+)$/s.exec(issue.message)
    if (issue._tag === "Missing") entry.other.push("is required")
    else if (typeMismatch) {
      if (typeMismatch[1] !== "undefined") entry.expected.push(typeMismatch[1]!)
      const path = issue.path.map(String)
      // A secret given in the wrong shape is described, never shown.
      entry.actual = isSecretKey(path.at(-1) ?? "") ? kindOf(valueAt(raw, path)) : typeMismatch[2]!
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

/**
 * Tables and keys of the seed configuration (the original minibot's) that this version ignores:
 * reported as unused, not fatal, so that file still loads. Every other unknown key is an error.
 */
const legacyKeys = [
  "memory.sqlalchemy",
  "memory.mongo",
  "tasks",
  "tools.kv_memory.sqlite_url",
  "tools.kv_memory.pool_size",
  "tools.kv_memory.echo"
]

/** The names Schema lists in an "is unexpected, expected: "a" | "b"" issue. */
const expectedNames = (message: string) => [...message.matchAll(/"([^"]+)"/g)].map((m) => m[1]!)

const unknownKeyProblem = (path: ReadonlyArray<string>, raw: unknown, known: ReadonlyArray<string>) => {
  const name = path.at(-1)!
  const what = valueAt(raw, path) !== null && typeof valueAt(raw, path) === "object" ? "section" : "key"
  const close = suggest(name, known)
  return close !== undefined
    ? `${keyPath(path)}: unknown ${what}; did you mean "${keyPath([...path.slice(0, -1), close])}"?`
    : `${keyPath(path)}: unknown ${what} (known here: ${known.join(", ")})`
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
      const close = suggest(name, knownChannels)
      if (close !== undefined) {
        problems.push(`channels.${name}: unknown channel; did you mean "channels.${close}"?`)
      } else if ((table as { enabled?: unknown } | null)?.enabled === true) {
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
      // Tables of channels this version lacks were judged above.
      if (path[0] === "channels" && path.length === 2) continue
      if (legacyKeys.includes(path.join("."))) unusedKeys.push(path.join("."))
      else problems.push(unknownKeyProblem(path, raw, expectedNames(issue.message)))
    }
    problems.push(...formatIssues(issues.filter((i) => i._tag !== "Unexpected"), raw))
  }
  if (problems.length > 0) return Either.left(problems)
  return Schema.decodeUnknownEither(MinibotConfig)(raw).pipe(
    Either.map((config) => ({ config, unusedKeys })),
    Either.mapLeft((e) => formatIssues(ParseResult.ArrayFormatter.formatErrorSync(e), raw))
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
  problems.push(...webhookProblems(config))
  return problems
}

/** Secret values of the document and of the environment: masked in every problem line. */
const secretsOf = (document: unknown, env: Env): Array<string> => [
  ...secretValues(document),
  ...environmentKeys.flatMap((e) => (isSecretKey(e.key) && env[e.variable] ? [env[e.variable]!] : []))
]

const configError = (origin: string, problems: ReadonlyArray<string>, secrets: ReadonlyArray<string>) =>
  new ConfigError({ origin, problems: presentable(problems, secrets) })

/** A problem about a key the environment supplied names the variable too. */
const nameVariables = (problems: ReadonlyArray<string>, applied: ReadonlyArray<EnvironmentKey>) =>
  problems.map((problem) => {
    const source = applied.find((e) => problem.startsWith(`${e.key}:`))
    return source === undefined
      ? problem
      : problem.replace(`${source.key}:`, `${source.key} (from ${source.variable}):`)
  })

/** The environment over the document, then the schema, then the cross-key rules. */
const validate = (document: unknown, env: Env, origin: string, options: { readonly fileLess: boolean }) =>
  Either.flatMap(
    applyEnvironment(document, env, options),
    ({ applied, raw }) =>
      Either.flatMap(decodeConfig(raw), (decoded) => {
        const problems = checkConsistency(decoded.config)
        return problems.length > 0 ? Either.left(problems) : Either.right({ ...decoded, environment: applied })
      }).pipe(Either.mapLeft((problems) => nameVariables(problems, applied)))
  ).pipe(
    Either.mapLeft((problems) => configError(origin, problems, secretsOf(document, env)))
  )

/** The text of a config file; a byte that is not UTF-8 is an error naming its line. */
export const decodeUtf8 = (bytes: Uint8Array): Either.Either<string, string> => {
  const decoder = new TextDecoder("utf-8", { fatal: true })
  try {
    return Either.right(decoder.decode(bytes))
  } catch {
    // A newline byte is never part of a multi-byte character, so lines can be checked one by one.
    let line = 1
    let start = 0
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, i))
      } catch {
        return Either.left(`line ${line}: the file is not valid UTF-8; save it as UTF-8`)
      }
      line++
      start = i + 1
    }
    return Either.left("the file is not valid UTF-8; save it as UTF-8")
  }
}

/** Parses TOML text (with `${ENV}` interpolation and environment overrides) into a validated config. */
export const parseConfigText = (text: string, env: Env, origin: string) =>
  Effect.gen(function*() {
    const parsed = yield* Effect.try({
      try: () => Toml.parse(text),
      catch: (e) => {
        const { message, line, column } = e as Error & { line?: number; column?: number }
        const where = line === undefined ? "" : ` at line ${line}, column ${column}`
        const reason = message.split("\n")[0]!.replace(/^Invalid TOML document: /, "")
        return configError(origin, [`TOML syntax${where}: ${reason}`], secretsOf({}, env))
      }
    })
    const problems: Array<string> = []
    const raw = interpolateEnv(parsed, env, [], problems)
    if (problems.length > 0) return yield* configError(origin, problems, secretsOf(raw, env))
    return yield* validate(raw, env, origin, { fileLess: false })
  })

/**
 * Loads the configuration the way the CLI documents: an explicitly named file must exist;
 * `./config.toml` is used when present; otherwise defaults plus the environment. Environment
 * variables override the file either way.
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
    const decoded = yield* validate({}, env, "environment", { fileLess: true })
    return { ...decoded, source: ConfigSource.Environment() } satisfies LoadedConfig
  }
  const bytes = yield* fs.readFile(path).pipe(
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
  const text = yield* Either.mapLeft(
    decodeUtf8(bytes),
    (problem) => new ConfigError({ origin: path, problems: [problem] })
  )
  const decoded = yield* parseConfigText(text, env, path)
  return { ...decoded, source: ConfigSource.File({ path }) } satisfies LoadedConfig
})

/** Where a loaded configuration came from, as error messages name it. */
export const originOf = (loaded: LoadedConfig): string =>
  ConfigSource.$match(loaded.source, {
    File: ({ path }) => path,
    Environment: () => "environment",
    Inline: () => "inline"
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

const isHostedOpenAi = (baseUrl: string): boolean => {
  const host = URL.canParse(baseUrl) ? new URL(baseUrl).hostname : ""
  return host === "api.openai.com" || host.endsWith(".openai.com")
}

/**
 * What `run` refuses in a valid configuration: nothing to do, or the hosted OpenAI API without a
 * key (a local server needs none). `check-config` reports the same, so it passes only when `run`
 * would start.
 */
export const runProblems = (config: MinibotConfig): Array<string> => [
  ...(enabledChannels(config).length === 0 ? [noChannelProblem] : []),
  ...(config.llm.api_key === undefined && isHostedOpenAi(config.llm.base_url)
    ? [
      `llm.api_key: required with the hosted OpenAI API (llm.base_url = ${config.llm.base_url}); set OPENAI_API_KEY, ` +
      "or point llm.base_url (OPENAI_BASE_URL) at a local server, which needs no key"
    ]
    : [])
]

/** Fails with every `runProblems` of a loaded configuration. */
export const checkRunnable = (loaded: LoadedConfig): Effect.Effect<void, ConfigError> => {
  const problems = runProblems(loaded.config)
  return problems.length > 0 ? new ConfigError({ origin: originOf(loaded), problems }) : Effect.void
}
