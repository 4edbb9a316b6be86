/**
 * The shape of `config.toml`, as a Schema: one definition gives the defaults, the validation
 * and the error messages (which name the TOML key path). Keys keep the snake_case of the file.
 */
import { Context, Data, Layer, Redacted, Schema } from "effect"
import * as os from "node:os"
import { toolsSection, ToolsSettings } from "../tools/ToolsConfig.ts"
import { webhooksSection, WebhooksSettings } from "../webhooks/WebhooksConfig.ts"
import {
  HttpUrl,
  IdList,
  NonNegativeInt,
  Port,
  PositiveInt,
  Secret,
  section,
  withDefault,
  ZoneName
} from "./Primitives.ts"

export const LogLevelName = Schema.transform(
  Schema.String,
  Schema.Literal("trace", "debug", "info", "warning", "error", "fatal", "none"),
  {
    strict: false,
    decode: (s) => {
      const v = s.trim().toLowerCase()
      return v === "warn" ? "warning" : v
    },
    encode: (s) => s
  }
)
export type LogLevelName = typeof LogLevelName.Type

export const RuntimeConfig = Schema.Struct({
  log_level: withDefault(LogLevelName, () => "info" as const),
  environment: withDefault(Schema.String, () => "production" as const),
  data_dir: withDefault(Schema.NonEmptyString, () => "./data"),
  timezone: withDefault(ZoneName, () => "UTC"),
  /** Processed actor messages and turn records older than this are pruned. */
  message_retention_hours: withDefault(PositiveInt, () => 72),
  /** How long a graceful shutdown may take before the process exits anyway. */
  shutdown_timeout_seconds: withDefault(PositiveInt, () => 8)
})

export const TelegramConfig = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => false),
  bot_token: Schema.optional(Secret),
  api_root: withDefault(HttpUrl, () => "https://api.telegram.org"),
  allowed_chat_ids: withDefault(IdList, () => []),
  allowed_user_ids: withDefault(IdList, () => []),
  mode: withDefault(Schema.Literal("long_polling", "webhook"), () => "long_polling" as const),
  webhook_url: Schema.optional(HttpUrl),
  webhook_secret: Schema.optional(Secret),
  dm_policy: withDefault(Schema.Literal("allowlist", "pairing"), () => "allowlist" as const),
  group_mode: withDefault(Schema.Literal("mention", "always"), () => "mention" as const),
  /** Long-poll wait of one getUpdates call. */
  poll_timeout_seconds: withDefault(Schema.Int.pipe(Schema.between(0, 50)), () => 30),
  /**
   * Live previews of replies: `auto` (drafts in private chats, a placeholder edited in place
   * elsewhere), `draft` (drafts only: groups get the whole reply), `edit` (a placeholder
   * everywhere), or `off` (the whole reply at once).
   */
  streaming: withDefault(Schema.Literal("auto", "draft", "edit", "off"), () => "auto" as const),
  /** The least time between two preview updates of one reply. */
  streaming_interval_ms: withDefault(Schema.Int.pipe(Schema.between(100, 60_000)), () => 1000),
  /**
   * Messages of one person in one chat that arrive within this many ms of each other (a paste
   * Telegram split, a forwarded burst) are answered as one turn; 0 answers each on its own.
   */
  merge_window_ms: withDefault(Schema.Int.pipe(Schema.between(0, 10_000)), () => 1500)
})

export const ConsoleConfig = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => false)
})

export const ChannelsConfig = Schema.Struct({
  telegram: section(TelegramConfig),
  console: section(ConsoleConfig)
})

export const LlmContextConfig = Schema.Struct({
  history_window: withDefault(NonNegativeInt, () => 6),
  system_prompt: withDefault(Schema.String, () => "You are Minibot, a helpful personal assistant. Answer concisely."),
  /** A longer message (or scheduled prompt) reaches the model cut at this many characters, with a note. */
  max_input_chars: withDefault(PositiveInt, () => 20_000),
  /**
   * Absent: requests carry the last `history_window` turns. Set: they carry every turn since the
   * conversation's summary, and older turns are summarised by the model to stay under this.
   */
  max_context_tokens: Schema.optional(Schema.Int.pipe(Schema.greaterThanOrEqualTo(256)))
})

/** Voice notes and audio, through an OpenAI-compatible `/audio/transcriptions` endpoint. */
export const LlmTranscriptionConfig = Schema.Struct({
  /** Absent: voice is not set up (the person is told so). */
  model: Schema.optional(Schema.NonEmptyString),
  /** Defaults to `[llm] base_url`. */
  base_url: Schema.optional(HttpUrl),
  /** Defaults to `[llm] api_key`. */
  api_key: Schema.optional(Secret),
  /** ISO-639-1 code (`en`, `es`...); absent: the server detects it. */
  language: Schema.optional(Schema.String.pipe(Schema.pattern(/^[a-z]{2,3}$/, {
    message: () => "expected a language code such as \"en\""
  }))),
  /** Sends the transcript back to the person before the answer. */
  show_transcript: withDefault(Schema.Boolean, () => false),
  request_timeout_seconds: withDefault(Schema.Number.pipe(Schema.positive()), () => 60)
})

/** Limits on what people send: pictures, documents, PDFs. */
export const LlmMediaConfig = Schema.Struct({
  /** The largest photo size under this is sent to the model; an image document over it is refused. */
  max_image_bytes: withDefault(PositiveInt, () => 5 * 1024 * 1024),
  /** Text documents and PDFs larger than this are refused (their text is cut at `max_input_chars` anyway). */
  max_document_bytes: withDefault(PositiveInt, () => 10 * 1024 * 1024),
  /** Pages of a PDF whose text is read. */
  max_pdf_pages: withDefault(PositiveInt, () => 50),
  /** Reading a PDF's text is given up after this long. */
  pdf_timeout_seconds: withDefault(Schema.Number.pipe(Schema.positive()), () => 20),
  /** One file download, per attempt. */
  download_timeout_seconds: withDefault(Schema.Number.pipe(Schema.positive()), () => 30)
})

export const LlmConfig = Schema.Struct({
  provider: withDefault(Schema.Literal("openai"), () => "openai" as const),
  base_url: withDefault(HttpUrl, () => "https://api.openai.com/v1"),
  api_key: Schema.optional(Secret),
  model: withDefault(Schema.NonEmptyString, () => "gpt-4o-mini"),
  max_new_tokens: withDefault(PositiveInt, () => 1024),
  temperature: withDefault(Schema.Number.pipe(Schema.between(0, 2)), () => 0.7),
  request_timeout_seconds: withDefault(Schema.Number.pipe(Schema.positive()), () => 60),
  retry_attempts: withDefault(NonNegativeInt, () => 3),
  max_tool_iterations: withDefault(PositiveInt, () => 8),
  /** Send photos to the model: `true`, `false` (the person is told it cannot see images), `"auto"` (try). */
  vision: withDefault(Schema.Union(Schema.Literal("auto"), Schema.Boolean), () => "auto" as const),
  context: section(LlmContextConfig),
  transcription: section(LlmTranscriptionConfig),
  media: section(LlmMediaConfig)
})

const isRedisUrl = (text: string) => URL.canParse(text) && ["redis:", "rediss:"].includes(new URL(text).protocol)

export const MemoryRedisConfig = Schema.Struct({
  url: withDefault(
    Schema.String.pipe(Schema.filter(isRedisUrl, {
      // Never echoes the value: a Redis URL may hold the password.
      message: (issue) =>
        `expected a redis:// or rediss:// URL, got ${
          typeof issue.actual === "string" && URL.canParse(issue.actual)
            ? `a URL starting with ${new URL(issue.actual).protocol}//`
            : "text that is not a URL"
        }`
    })),
    () => "redis://127.0.0.1:6379"
  ),
  /** Empty: none (or the one in the URL). */
  password: Schema.optional(Secret),
  /** Absent: history never expires; set: a conversation idle this long is forgotten. */
  ttl_seconds: Schema.optional(PositiveInt),
  /** Every key starts with it, so several bots can share one Redis. */
  key_prefix: withDefault(Schema.String, () => "minibot:")
})

export const MemoryConfig = Schema.Struct({
  backend: withDefault(Schema.Literal("sqlite", "in_memory", "redis"), () => "sqlite" as const),
  max_history_messages: withDefault(PositiveInt, () => 500),
  redis: section(MemoryRedisConfig)
})

export const HttpConfig = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => false),
  host: withDefault(Schema.NonEmptyString, () => "127.0.0.1"),
  port: withDefault(Port, () => 8080),
  /** Bearer token of `/api/*` (and `/metrics`); without one the API is served on loopback only. */
  api_token: Schema.optional(Secret),
  /** Serve the HTTP API under `/api`. */
  api: withDefault(Schema.Boolean, () => true),
  /** Serve `/metrics` without the token. */
  public_metrics: withDefault(Schema.Boolean, () => false)
})

const OnlyDefaultSeparator = (value: string) =>
  Schema.Literal(value).annotations({
    message: () => `only "${value}" is supported (logfmt is written by Effect's logger)`
  })

export const LogfmtConfig = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => true),
  kv_separator: withDefault(OnlyDefaultSeparator("="), () => "="),
  record_separator: withDefault(OnlyDefaultSeparator(" "), () => " ")
})

export const LoggingConfig = Schema.Struct({
  structured: withDefault(Schema.Boolean, () => true),
  json: withDefault(Schema.Boolean, () => false),
  service_name: withDefault(Schema.NonEmptyString, () => "minibot" as const),
  logfmt: section(LogfmtConfig)
})

export const SchedulerConfig = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => true),
  /** The seed's `type = "asyncio"`: accepted for compatibility; jobs always fire through the actors. */
  type: Schema.optional(Schema.String),
  /** Safety-net poll of the durable mailboxes; due jobs are woken at their exact time regardless. */
  poll_interval_ms: withDefault(Schema.Int.pipe(Schema.between(50, 60_000)), () => 1000),
  /** Retries of a firing whose LLM call failed, before the job is marked failed and the user told. */
  default_retry_limit: withDefault(Schema.Int.pipe(Schema.between(0, 10)), () => 3),
  /** Delay before the first retry; each further retry waits twice as long (at most 30 minutes). */
  retry_backoff_ms: withDefault(Schema.Int.pipe(Schema.between(10, 3_600_000)), () => 10_000),
  /** Shortest `interval_seconds` a recurring job may have. */
  min_interval_seconds: withDefault(PositiveInt, () => 60),
  /** Active (pending or running) jobs one owner may have. */
  max_jobs_per_owner: withDefault(PositiveInt, () => 100),
  /** Default zone of cron expressions and local times; `[runtime] timezone` when absent. */
  timezone: Schema.optional(ZoneName),
  /** A recurring job that missed slots while the daemon was down: run once now, or skip to the next slot. */
  missed_run_policy: withDefault(Schema.Literal("run_once", "skip"), () => "run_once" as const)
})
export type SchedulerConfig = typeof SchedulerConfig.Type

export const StorageConfig = Schema.Struct({
  backend: withDefault(Schema.Literal("sqlite", "postgres"), () => "sqlite" as const),
  /** `postgres://user:pass@host:5432/db`; `${ENV}` interpolation applies. */
  postgres_url: Schema.optional(Secret)
})
export type StorageConfig = typeof StorageConfig.Type

/** `host:port`, the port from 1 to 65535. */
const RunnerAddressText = Schema.String.pipe(
  Schema.filter((text) => {
    const match = /^([^\s:]+):(\d{1,5})$/.exec(text)
    return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535
  }, {
    message: () => "must be host:port (a host name or IPv4 address, a port from 1 to 65535), e.g. \"minibot-1:34431\""
  })
)

export const ClusterConfig = Schema.Struct({
  /**
   * This runner's name in the cluster of runners sharing `[storage] backend = "postgres"`: unique
   * per runner. Default: `<host name>:<process id>`.
   */
  runner_address: Schema.optional(RunnerAddressText)
})
export type ClusterConfig = typeof ClusterConfig.Type

/** This process's runner address: `[cluster] runner_address`, else `<host name>:<process id>`. */
export const runnerAddressOf = (cluster: ClusterConfig): { readonly host: string; readonly port: number } => {
  if (cluster.runner_address === undefined) return { host: os.hostname(), port: process.pid }
  const at = cluster.runner_address.lastIndexOf(":")
  return { host: cluster.runner_address.slice(0, at), port: Number(cluster.runner_address.slice(at + 1)) }
}

export const NatsBusConfig = Schema.Struct({
  /** `nats://host:4222` (a comma-separated list for a cluster); may carry credentials. */
  url: withDefault(Secret, () => Redacted.make("nats://127.0.0.1:4222")),
  /** The JetStream stream every runner publishes to (created if missing). */
  stream: withDefault(Schema.NonEmptyString, () => "MINIBOT_EVENTS"),
  subject_prefix: withDefault(Schema.NonEmptyString, () => "minibot.events"),
  /** Events kept in memory while NATS is unreachable; more are dropped (and counted). */
  max_buffered_events: withDefault(PositiveInt, () => 10_000)
})
export type NatsBusConfig = typeof NatsBusConfig.Type

export const BusConfig = Schema.Struct({
  backend: withDefault(Schema.Literal("memory", "nats"), () => "memory" as const),
  nats: section(NatsBusConfig)
})
export type BusConfig = typeof BusConfig.Type

/** A header name as HTTP allows it (a token). */
const HeaderName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, {
    message: (issue) => `expected an HTTP header name, got ${JSON.stringify(issue.actual)}`
  })
)

/** Where traces go: an OTLP/HTTP traces URL; a bare `http://host:4318` means its `/v1/traces`. */
const OtlpTracesUrl = Schema.transform(HttpUrl, Schema.String, {
  strict: true,
  decode: (url) => {
    const parsed = new URL(url)
    return parsed.pathname === "/" ? new URL("/v1/traces", parsed).toString() : url
  },
  encode: (url) => url
})

export const TelemetryConfig = Schema.Struct({
  /** Export traces over OTLP/HTTP (JSON). Off: no tracer is loaded at all. */
  enabled: withDefault(Schema.Boolean, () => false),
  endpoint: withDefault(OtlpTracesUrl, () => "http://127.0.0.1:4318/v1/traces"),
  service_name: withDefault(Schema.NonEmptyString, () => "minibot"),
  /** Sent with every export (an API key of a hosted backend): secrets, masked in logs. */
  headers: withDefault(
    Schema.Record({ key: HeaderName, value: Secret }).pipe(
      Schema.filter((headers) => Object.keys(headers).length <= 20 || "at most 20 headers")
    ),
    () => ({})
  ),
  /** The share of traces kept, decided once per trace at its root (an inbound message, a firing). */
  sample_ratio: withDefault(Schema.Number.pipe(Schema.between(0, 1)), () => 1)
})
export type TelemetryConfig = typeof TelemetryConfig.Type

export const MinibotConfig = Schema.Struct({
  runtime: section(RuntimeConfig),
  channels: section(ChannelsConfig),
  llm: section(LlmConfig),
  memory: section(MemoryConfig),
  http: section(HttpConfig),
  logging: section(LoggingConfig),
  tools: toolsSection,
  scheduler: section(SchedulerConfig),
  storage: section(StorageConfig),
  cluster: section(ClusterConfig),
  bus: section(BusConfig),
  telemetry: section(TelemetryConfig),
  webhooks: webhooksSection
})
export type MinibotConfig = typeof MinibotConfig.Type
export type RuntimeConfig = typeof RuntimeConfig.Type
export type TelegramConfig = typeof TelegramConfig.Type
export type ConsoleConfig = typeof ConsoleConfig.Type
export type LlmConfig = typeof LlmConfig.Type
export type LlmTranscriptionConfig = typeof LlmTranscriptionConfig.Type
export type LlmMediaConfig = typeof LlmMediaConfig.Type
export type MemoryConfig = typeof MemoryConfig.Type
export type HttpConfig = typeof HttpConfig.Type
export type LoggingConfig = typeof LoggingConfig.Type

/** Channels this version implements; any other `[channels.X]` table must stay disabled. */
export const knownChannels = ["telegram", "console"] as const

/** Where the running configuration came from, for the first log line and `/readyz`. */
export type ConfigSource = Data.TaggedEnum<{
  /** A TOML file, at this path. */
  File: { readonly path: string }
  /** No file: built-in defaults plus the environment. */
  Environment: {}
  /** Built in code (tests). */
  Inline: {}
}>
export const ConfigSource = Data.taggedEnum<ConfigSource>()

/** The validated configuration of this process, whole: for the CLI's start-up lines and the control plane. */
export class AppConfig extends Context.Tag("minibot/AppConfig")<AppConfig, {
  readonly config: MinibotConfig
  readonly source: ConfigSource
  /** Keys present in the file that this version does not use (logged as a warning). */
  readonly unusedKeys: ReadonlyArray<string>
}>() {
  /**
   * The whole configuration and every section's tag, from an already-built config (tests, and
   * the CLI once it has loaded the file).
   */
  static readonly layer = (config: MinibotConfig, source: ConfigSource = ConfigSource.Inline()) =>
    Layer.merge(Layer.succeed(AppConfig, { config, source, unusedKeys: [] }), sectionsLayer(config))

  /** The same from a loaded configuration (keeps its source and unused keys). */
  static readonly loaded = (
    loaded: {
      readonly config: MinibotConfig
      readonly source: ConfigSource
      readonly unusedKeys: ReadonlyArray<string>
    }
  ) => Layer.merge(Layer.succeed(AppConfig, loaded), sectionsLayer(loaded.config))
}

/*
 * One tag per section: a service reads only the section it needs, so its dependencies say what
 * it depends on, and a test provides just that section.
 */
export class RuntimeSettings extends Context.Tag("minibot/RuntimeSettings")<RuntimeSettings, RuntimeConfig>() {}
export class TelegramSettings extends Context.Tag("minibot/TelegramSettings")<TelegramSettings, TelegramConfig>() {}
export class ConsoleSettings extends Context.Tag("minibot/ConsoleSettings")<ConsoleSettings, ConsoleConfig>() {}
export class LlmSettings extends Context.Tag("minibot/LlmSettings")<LlmSettings, LlmConfig>() {}
export class MemorySettings extends Context.Tag("minibot/MemorySettings")<MemorySettings, MemoryConfig>() {}
export class HttpSettings extends Context.Tag("minibot/HttpSettings")<HttpSettings, HttpConfig>() {}
export class LoggingSettings extends Context.Tag("minibot/LoggingSettings")<LoggingSettings, LoggingConfig>() {}
export class SchedulerSettings extends Context.Tag("minibot/SchedulerSettings")<SchedulerSettings, SchedulerConfig>() {}
export class StorageSettings extends Context.Tag("minibot/StorageSettings")<StorageSettings, StorageConfig>() {}
export class ClusterSettings extends Context.Tag("minibot/ClusterSettings")<ClusterSettings, ClusterConfig>() {}
export class BusSettings extends Context.Tag("minibot/BusSettings")<BusSettings, BusConfig>() {}

/** Every section tag of a config (the tools' own tag, `ToolsSettings`, included). */
export const sectionsLayer = (config: MinibotConfig) =>
  Layer.mergeAll(
    Layer.succeed(RuntimeSettings, config.runtime),
    Layer.succeed(TelegramSettings, config.channels.telegram),
    Layer.succeed(ConsoleSettings, config.channels.console),
    Layer.succeed(LlmSettings, config.llm),
    Layer.succeed(MemorySettings, config.memory),
    Layer.succeed(HttpSettings, config.http),
    Layer.succeed(LoggingSettings, config.logging),
    Layer.succeed(SchedulerSettings, config.scheduler),
    Layer.succeed(StorageSettings, config.storage),
    Layer.succeed(ClusterSettings, config.cluster),
    Layer.succeed(BusSettings, config.bus),
    ToolsSettings.layer({ tools: config.tools, timezone: config.runtime.timezone }),
    WebhooksSettings.layer(config.webhooks)
  )

/** Decodes a plain object (as parsed from TOML) into a config; throws on errors (tests). */
export const makeConfig = (input: unknown = {}): MinibotConfig => Schema.decodeUnknownSync(MinibotConfig)(input)
